"""Batch routes (CONTRACT §5 ``/v1/batches``; the control and history routes are ours).

``POST /v1/batches`` is a streaming route: a ``multipart/form-data`` upload is parsed as it
arrives (fields first, then the ``file`` part: a CSV with a ``to`` column and one column per
template variable), a thousand rows at a time, never held whole. Anything else is a JSON body.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio
from sqlalchemy import Connection, and_, or_, select

from .batches import STATES, Batches, BatchFields, Loader, describe
from .csvstream import CsvError, CsvRecords
from .http.errors import AuthError, HTTPError
from .http.multipart import MultipartError, MultipartParser, PartData, PartEnd, PartStart, boundary_of
from .http.router import ResponseSpec
from .http.types import Request, Response, json_response
from .stats import BadParameter, parse_bounds
from .store.schema import batch_rejects, batches, messages
from .taxonomy import classify

if TYPE_CHECKING:
    from .api import Api

MAX_FIELD_BYTES = 64 * 1024
EXPORT_PAGE = 2000
EXPORT_STATUSES = {
    "delivered": ("delivered",),
    "failed": ("failed", "expired"),
    "rejected": ("rejected",),  # cancelled before sending; the upload's refused rows follow
    "pending": ("held", "accepted", "submitted"),
}
EXPORT_HEADER = ("to", "status", "error", "message_id", "reason")

_PROGRESS = {"type": "object", "properties": {
    name: {"type": "integer"} for name in ("total", "accepted", "rejected", "submitted", "delivered", "failed",
                                           "pending", "cancelled")} | {
    "id": {"type": "string"}, "state": {"type": "string", "enum": list(STATES)},
    "send_at": {"type": ["number", "null"]}, "created_at": {"type": "number"}}}
_CREATED = {"type": "object", "properties": {"id": {"type": "string"}, "total": {"type": "integer"},
                                             "accepted": {"type": "integer"}, "rejected": {"type": "integer"}}}
_REQUEST = {
    "type": "object",
    "properties": {
        "template_id": {"type": "string"}, "text": {"type": "string",
                                                    "description": "raw text; {column} placeholders are filled"},
        "signature": {"type": "string"}, "channel": {"type": "string"}, "callback_url": {"type": "string"},
        "send_at": {"type": ["number", "string"], "description": "unix seconds or ISO 8601; absent: start now"},
        "recipients": {"type": "array", "items": {"type": "object", "properties": {
            "to": {"type": "string"}, "params": {"type": "object"}}}},
        "file": {"type": "string", "format": "binary",
                 "description": "multipart only, after the other fields: CSV with a `to` column and one column per"
                                " template variable (UTF-8, BOM allowed, or GBK)"},
        "encoding": {"type": "string", "description": "multipart only: the CSV's encoding if not UTF-8/GBK"},
    },
}


def register(api: Api) -> Batches:
    service = Batches(api.intake)
    routes = _Routes(api, service)
    add = api.router.add
    add("POST", "/v1/batches", routes.post_batch, auth="key", streaming=True,
        summary="Create a batch: JSON recipients, or multipart/form-data fields plus a CSV `file` (streamed)",
        request_schema=_REQUEST, request_content_type="multipart/form-data", responses={202: _CREATED})
    add("GET", "/v1/batches", routes.list_batches, auth="key",
        summary="Batch history, newest first (the key's own; admin: all)",
        query={"state": {"type": "string", "enum": list(STATES)},
               "q": {"type": "string", "description": "substring of the batch's text (or first message)"},
               "from": {"type": "string", "description": "created at or after: unix seconds, an ISO date or "
                                                         "date-time (UTC unless it says), as GET /v1/stats reads it"},
               "to": {"type": "string", "description": "created before (exclusive; an ISO date includes its day)"},
               "after": {"type": "string", "description": "the \"next\" of the previous page"},
               "limit": {"type": "integer"}})
    add("GET", "/v1/batches/{id}", routes.get_batch, auth="key", summary="Progress of a batch",
        responses={200: _PROGRESS})
    add("GET", "/v1/batches/{id}/recipients", routes.get_recipients, auth="key",
        summary="CSV of a batch's recipients by outcome: to,status,error,message_id,reason (streamed)",
        query={"status": {"type": "string", "enum": list(EXPORT_STATUSES)}},
        responses={200: ResponseSpec({"type": "string"}, "CSV with a header row", "text/csv")})
    for action, doing in (("pause", "Pause a scheduled or running batch: nothing more is sent until resumed"),
                          ("resume", "Resume a paused batch (scheduled again if its send_at is ahead)"),
                          ("cancel", "Cancel a batch: its unsent messages become rejected/batch_cancelled")):
        add("POST", f"/v1/batches/{{id}}/{action}", getattr(routes, action), auth="key", summary=doing,
            responses={200: {"type": "object", "properties": {"id": {"type": "string"},
                                                              "state": {"type": "string"}}}})
    return service


class _Routes:
    def __init__(self, api: Api, service: Batches) -> None:
        self.api = api
        self.batches = service

    def _scope(self, request: Request) -> tuple[int, str | None]:
        from .api import id_param, principal

        key_id, admin = principal(request)
        return id_param(request), None if admin else key_id

    # ------------------------------------------------------------------ create
    async def post_batch(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/"):
            return json_response(await self._upload(request, content_type), 202)
        from .api import json_body

        await request.read()  # the signature is checked at its end
        body = json_body(request)
        return json_response(await self.batches.create_json(self.api.caller(request), body), 202)

    async def _upload(self, request: Request, content_type: str) -> dict[str, Any]:
        try:
            parser = MultipartParser(boundary_of(content_type))
        except MultipartError as exc:
            raise HTTPError(400, "invalid_multipart", str(exc)) from None
        # The verifier has loaded the key; the signature itself is checked when the body ends.
        key = self.api.keys[request.headers["x-api-key"]]
        upload = _Upload(self.batches, key)
        try:
            async for chunk in request.stream():
                for event in parser.feed(chunk):
                    await upload.event(event)
            parser.close()
            if upload.loader is None:
                raise HTTPError(400, "missing_file", "the upload has no \"file\" part (a CSV with a `to` column)",
                                "file")
            if not upload.file_done:
                raise HTTPError(400, "invalid_multipart", "the \"file\" part did not end")
            return await self.batches.finish_upload(upload.loader)
        except BaseException as exc:
            if upload.loader is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(60):
                    await self.batches.abandon_upload(upload.loader)
            if isinstance(exc, HTTPError | MultipartError | CsvError | UnicodeError) and not isinstance(exc, AuthError):
                await _read_to_end(request)
            if isinstance(exc, MultipartError):
                raise HTTPError(400, "invalid_multipart", str(exc)) from None
            if isinstance(exc, CsvError | UnicodeError):  # UnicodeError: a codec's own (punycode, idna)
                raise HTTPError(400, "invalid_csv", str(exc), "file") from None
            raise

    # ----------------------------------------------------------------- control
    async def pause(self, request: Request) -> Response:
        return json_response(await self.batches.pause(*self._scope(request)))

    async def resume(self, request: Request) -> Response:
        return json_response(await self.batches.resume(*self._scope(request)))

    async def cancel(self, request: Request) -> Response:
        return json_response(await self.batches.cancel(*self._scope(request)))

    # ------------------------------------------------------------------- read
    async def get_batch(self, request: Request) -> Response:
        return json_response(await self.batches.progress(*self._scope(request)))

    async def list_batches(self, request: Request) -> Response:
        from .api import page_limit, principal, whole_number

        key_id, admin = principal(request)
        query = request.query
        state = query.get("state") or None
        if state is not None and state not in STATES:
            raise HTTPError(400, "invalid_state", f"\"state\" must be one of {', '.join(STATES)}", "state")
        try:
            start, end = parse_bounds(query)
        except BadParameter as exc:
            raise HTTPError(400, f"invalid_{exc.field}", str(exc), exc.field) from None
        after_raw = query.get("after") or ""
        after = whole_number(after_raw) if after_raw else None
        if after_raw and after is None:
            raise HTTPError(400, "invalid_cursor", "\"after\" must be a cursor returned as \"next\"", "after")
        limit = page_limit(request, "50")
        rows = await self.batches.store.read(
            _history, None if admin else key_id, state, query.get("q") or None, start, end, after, limit)
        items = [describe(row) for row in rows]
        return json_response({"items": items, "next": items[-1]["id"] if len(rows) == limit else None})

    async def get_recipients(self, request: Request) -> Response:
        batch_id, key_id = self._scope(request)
        status = request.query.get("status") or None
        if status is not None and status not in EXPORT_STATUSES:
            raise HTTPError(400, "invalid_status", f"\"status\" must be one of {', '.join(EXPORT_STATUSES)}",
                            "status")
        await self.batches.row(batch_id, key_id)  # 404 before the 200 goes out
        filename = f"batch-{batch_id}-{status or 'all'}.csv"
        return Response(200, [("content-type", "text/csv; charset=utf-8"),
                              ("content-disposition", f'attachment; filename="{filename}"')],
                        self._export(batch_id, status))

    async def _export(self, batch_id: int, status: str | None) -> AsyncIterator[bytes]:
        store = self.batches.store
        yield _csv_lines([EXPORT_HEADER])
        for name in [status] if status else list(EXPORT_STATUSES):
            after = 0
            while rows := await store.read(_export_page, batch_id, EXPORT_STATUSES[name], after, EXPORT_PAGE):
                after = rows[-1].id
                yield _csv_lines([_export_row(row) for row in rows])
            if name == "rejected":
                line = 0
                while rows := await store.read(_rejects_page, batch_id, line, EXPORT_PAGE):
                    line = rows[-1].line
                    yield _csv_lines([(r.number, "rejected", r.code, "", f"row {r.line}: {r.message}")
                                      for r in rows])


class _Upload:
    """The multipart events of one upload: fields into ``BatchFields``, the file into rows."""

    def __init__(self, service: Batches, key: Any) -> None:
        self.service, self.key = service, key
        self.fields: dict[str, str] = {}
        self.part: PartStart | None = None
        self.value = bytearray()
        self.loader: Loader | None = None
        self.csv: CsvRecords | None = None
        self.columns: list[str] | None = None
        self.line = 0
        self.file_done = False

    async def event(self, event: PartStart | PartData | PartEnd) -> None:
        if isinstance(event, PartStart):
            self.part = event
            if event.name == "file":
                await self._open_file(event)
            elif self.loader is not None:
                raise HTTPError(400, "field_after_file",
                                f"the field {event.name!r} comes after the file; send the fields first", event.name)
            return
        assert self.part is not None
        if isinstance(event, PartData):
            if self.part.name == "file":
                assert self.csv is not None
                await self._records(self.csv.feed(event.data))
            else:
                self.value += event.data
                if len(self.value) > MAX_FIELD_BYTES:
                    raise HTTPError(400, "field_too_large", f"the field {self.part.name!r} exceeds {MAX_FIELD_BYTES}"
                                    " bytes", self.part.name)
            return
        if self.part.name == "file":
            assert self.csv is not None and self.loader is not None
            await self._records(self.csv.close())
            if self.columns is None:
                raise HTTPError(400, "invalid_csv", "the CSV file is empty: it needs a header row with `to`", "file")
            await self.loader.flush()
            self.file_done = True
        elif self.part.name:
            try:
                self.fields[self.part.name] = self.value.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPError(400, "invalid_field", f"the field {self.part.name!r} is not UTF-8",
                                self.part.name) from None
        self.part, self.value = None, bytearray()

    async def _open_file(self, part: PartStart) -> None:
        if self.loader is not None:
            raise HTTPError(400, "invalid_multipart", "only one \"file\" part is allowed", "file")
        try:
            fields = BatchFields.parse(self.fields, self.service.dispatcher.channels)
        except HTTPError as exc:
            exc.message += "; form fields must come before the \"file\" part"
            raise
        encoding = self.fields.get("encoding") or None
        if encoding is None and part.content_type:
            from .http.multipart import parse_header_value

            encoding = parse_header_value(part.content_type)[1].get("charset")
        try:
            if encoding is not None:
                "".encode(encoding)  # LookupError also for a codec that is not a text encoding (base64, rot13)
            self.csv = CsvRecords(encoding)
        except (CsvError, LookupError) as exc:
            raise HTTPError(400, "invalid_encoding", str(exc), "encoding") from None
        loader = self.service.upload_loader(self.key, fields)
        await self.service.begin_upload(loader)
        self.loader = loader

    async def _records(self, records: list[list[str]]) -> None:
        loader = self.loader
        assert loader is not None
        routes: dict[tuple[str, ...], str] = {}  # Intake.route's choices, until the next await
        for record in records:
            self.line += 1
            if self.columns is None:
                self.columns = _header(record)
                continue
            if not record or record == [""]:
                continue  # a blank line
            if len(record) != len(self.columns):
                loader.refuse(self.line, record[0] if record else "", "malformed_row",
                              f"the row has {len(record)} fields; the header has {len(self.columns)}")
            else:
                row = dict(zip(self.columns, record))
                to = row.pop("to")
                loader.row(self.line, to, row, routes)
            if loader.full:
                await loader.flush()
                routes.clear()


async def _read_to_end(request: Request) -> None:
    """Before answering a refusal found mid-upload, read the rest of the body: its signature is
    checked at its end (a caller whose signature fails learns nothing about the key's content,
    only ``AuthError``), and a client still sending a large file then reads the answer instead
    of a connection closed under it."""
    try:
        await request.drain()
    except AuthError:
        raise
    except HTTPError:
        pass  # the body broke off: the refusal stands


def _header(record: list[str]) -> list[str]:
    columns = [name.strip() for name in record]
    if "to" not in columns:
        raise HTTPError(400, "missing_to_column", f"the CSV header {record!r} has no `to` column", "file")
    if "" in columns or len(set(columns)) != len(columns):
        raise HTTPError(400, "invalid_header", "the CSV header has an empty or a repeated column name", "file")
    return columns


def _csv_lines(rows: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def _export_row(row: Any) -> tuple[str, str, str, str, str]:
    status = row.status
    reason = ""
    if status == "rejected":  # cancelled: our own sentence
        reason = row.error_message or ""
    elif status in ("failed", "expired"):
        reason = classify(status, row.error_code).text
    return row.to_number, status, row.error_code or "", str(row.id), reason


def _export_page(conn: Connection, batch_id: int, statuses: tuple[str, ...], after: int, limit: int) -> list[Any]:
    m = messages.c
    return list(conn.execute(
        select(m.id, m.to_number, m.status, m.error_code, m.error_message)
        .where(m.batch_id == batch_id, m.status.in_(statuses), m.id > after).order_by(m.id).limit(limit)).all())


def _rejects_page(conn: Connection, batch_id: int, after: int, limit: int) -> list[Any]:
    r = batch_rejects.c
    return list(conn.execute(select(batch_rejects).where(r.batch_id == batch_id, r.line > after)
                             .order_by(r.line).limit(limit)).all())


def _history(conn: Connection, key_id: str | None, state: str | None, text: str | None, start: float | None,
             end: float | None, before: int | None, limit: int) -> list[Any]:
    b = batches.c
    where = [b.state != "loading"]
    if key_id is not None:
        where.append(b.key_id == key_id)
    if state is not None:
        where.append(b.state == state)
    if text is not None:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(b.text.like(pattern, escape="\\"), b.template_id == text))
    if start is not None:
        where.append(b.created_at >= start)
    if end is not None:
        where.append(b.created_at < end)
    if before is not None:
        where.append(b.id < before)
    return list(conn.execute(select(batches).where(and_(*where)).order_by(b.id.desc()).limit(limit)).all())

