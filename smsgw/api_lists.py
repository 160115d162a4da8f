"""Admin routes of the number lists (CONTRACT §5): blacklist and whitelist entries, the blacklist's
CSV import and export.

Memory and database stay in step: an entry is added to memory before its write (so a send
racing the request is already refused) and taken out again if the write rolled back (not when
the commit's outcome is unknown: it may have landed, and blocking is the safe side); a removal is
written first and leaves memory after the commit (so a failed removal never lets a blocked
number through).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import trio

from .api import Api, _cursor, json_body
from .csvrows import CsvError, CsvRows
from .http.errors import HTTPError
from .http.router import ResponseSpec
from .http.types import Request, Response, json_response
from .limits import Limits
from .lists import (
    ALL,
    CSV_COLUMNS,
    DELETE_BLACKLIST_NUMBER,
    DELETE_BLACKLIST_SCOPE,
    DELETE_WHITELIST,
    INSERT_WHITELIST,
    BlacklistImport,
    ImportTooLarge,
    InvalidEntry,
    NumberLists,
    blacklist_item,
    blacklist_op,
    blacklist_page,
    blacklist_row,
    entry_number,
    entry_reason,
    entry_scope,
    whitelist_item,
    whitelist_page,
    whitelist_row,
)
from .store.errors import CommitOutcomeUnknown, WriteFailed

_ENTRY_SCHEMA = {
    "type": "object",
    "required": ["number"],
    "properties": {
        "number": {"type": "string", "description": "mobile number; +86/0086/86 prefixes accepted"},
        "signature": {"type": ["string", "null"], "description": "blacklist only: the signature the entry "
                                                                 "blocks; absent or null: all signatures"},
        "reason": {"type": "string"},
    },
}
_BLACKLIST_ITEM = {"type": "object", "properties": {
    "id": {"type": "string"}, "number": {"type": "string"}, "signature": {"type": ["string", "null"]},
    "reason": {"type": ["string", "null"]}, "source": {"type": "string", "enum": ["admin", "import",
                                                                                   "mo_unsubscribe"]},
    "created_at": {"type": "number"}, "created": {"type": "boolean"}}}
_WHITELIST_ITEM = {"type": "object", "properties": {
    "id": {"type": "string"}, "number": {"type": "string"}, "reason": {"type": ["string", "null"]},
    "created_at": {"type": "number"}, "created": {"type": "boolean"}}}
T = TypeVar("T")
_PAGE = {"after": {"type": "string"}, "limit": {"type": "integer"}}
_IMPORT_CHUNK = 2000  # entries per transaction
_EXPORT_PAGE = 5000


def register(api: Api) -> None:
    routes = ListRoutes(api)
    add = api.router.add
    add("POST", "/v1/blacklist", routes.add_blacklisted, auth="admin", request_schema=_ENTRY_SCHEMA,
        summary="Blacklist a number for one signature or all; 201 when new, 200 when already there",
        responses={201: _BLACKLIST_ITEM, 200: _BLACKLIST_ITEM})
    add("GET", "/v1/blacklist", routes.list_blacklist, auth="admin", summary="Blacklist entries, oldest first",
        query={**_PAGE, "number": {"type": "string", "description": "only this number's entries"}})
    add("DELETE", "/v1/blacklist/{number}", routes.remove_blacklisted, auth="admin",
        summary="Remove a number's blacklist entries (or only the one of ?signature=); sending resumes",
        query={"signature": {"type": "string", "description": "remove only this scope; '' = the all-signatures "
                                                              "entry"}})
    add("POST", "/v1/blacklist/import", routes.import_blacklist, auth="admin", streaming=True,
        request_content_type="text/csv",
        summary="Add the entries of a UTF-8 CSV (header number,signature,reason; only number required), "
                "streamed; counts added, duplicate and invalid rows with the first errors' line numbers",
        responses={200: {"type": "object", "properties": {
            "added": {"type": "integer"}, "duplicate": {"type": "integer"}, "invalid": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object"}}}}})
    add("GET", "/v1/blacklist/export", routes.export_blacklist, auth="admin",
        summary="The blacklist as CSV (number,signature,reason), streamed; importable as is",
        responses={200: ResponseSpec({"type": "string"}, "CSV", "text/csv")})
    add("POST", "/v1/whitelist", routes.add_whitelisted, auth="admin", request_schema=_ENTRY_SCHEMA,
        summary="Exempt a number from the frequency limits; 409 whitelist_full past the capacity",
        responses={201: _WHITELIST_ITEM, 200: _WHITELIST_ITEM})
    add("GET", "/v1/whitelist", routes.list_whitelist, auth="admin",
        summary="Whitelist entries, oldest first, with the capacity", query=_PAGE)
    add("DELETE", "/v1/whitelist/{number}", routes.remove_whitelisted, auth="admin",
        summary="Remove a number from the whitelist; the frequency limits apply to it again")


class ListRoutes:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.store = api.store
        # One change of the lists at a time: each sets memory and writes the database, and two at
        # once (a delete, then an add of the same number before the delete's commit came back) could
        # leave memory without an entry the database has: a blacklisted number receiving messages.
        self._changing = trio.Lock()

    @property
    def limits(self) -> Limits:
        return self.api.intake.limits

    @property
    def lists(self) -> NumberLists:
        return self.api.intake.limits.lists

    def wall_clock(self) -> float:
        return float(self.api.intake.wall_clock())

    # ---------------------------------------------------------------- blacklist
    async def add_blacklisted(self, request: Request) -> Response:
        body = json_body(request)
        number, scope, reason = _entry(lambda: (entry_number(body.get("number")), entry_scope(body.get("signature")),
                                                entry_reason(body.get("reason"))))
        async with self._changing:
            added = self.lists.block(number, scope)
            try:  # written even when memory had it: the insert keeps an existing entry as it is
                await self.store.execute([blacklist_op(number, scope, reason, "admin", self.wall_clock())])
            except WriteFailed as exc:
                if added and not isinstance(exc, CommitOutcomeUnknown):  # it may have landed: keep blocking
                    self.lists.unblock(number, scope)
                raise
        row = await self.store.read(blacklist_row, number, scope)
        return json_response({**blacklist_item(row), "created": added}, 201 if added else 200)

    async def list_blacklist(self, request: Request) -> Response:
        after, limit = _cursor(request)
        raw = request.query.get("number")
        number = _entry(lambda: entry_number(raw)) if raw else None
        rows = await self.store.read(blacklist_page, after, limit, number)
        return json_response({"items": [blacklist_item(r) for r in rows], "next": str(rows[-1].id if rows else after)})

    async def remove_blacklisted(self, request: Request) -> Response:
        number = _entry(lambda: entry_number(request.path_params["number"]))
        raw_scope = request.query.get("signature")
        scope = None if raw_scope is None else _entry(lambda: entry_scope(raw_scope))
        async with self._changing:
            scopes = self.lists.blocked.get(number, frozenset())
            if not scopes or (scope is not None and scope not in scopes):
                which = "" if scope is None else " for all signatures" if scope == ALL else f" for {scope!r}"
                raise HTTPError(404, "not_found", f"{number} is not on the blacklist{which}")
            if scope is None:
                await self.store.execute([(DELETE_BLACKLIST_NUMBER, {"b_number": number})])
            else:
                await self.store.execute([(DELETE_BLACKLIST_SCOPE, {"b_number": number, "b_scope": scope})])
            removed = self.lists.unblock(number, scope)
        return json_response({"number": number, "removed": [s or None for s in removed]})

    async def import_blacklist(self, request: Request) -> Response:
        job = BlacklistImport(self.lists)
        rows = CsvRows()
        try:
            async for chunk in request.stream():
                for line, fields in rows.feed(chunk):
                    job.row(line, fields)
            for line, fields in rows.close():
                job.row(line, fields)
        except CsvError as exc:
            raise HTTPError(400, "invalid_csv", str(exc), "file") from None
        except InvalidEntry as exc:
            raise HTTPError(400, "invalid_csv", str(exc), exc.field) from None
        except ImportTooLarge as exc:
            raise HTTPError(413, "import_too_large", str(exc), "file") from None
        if job.columns is None:
            raise HTTPError(400, "invalid_csv", f"the CSV is empty; the first line must be the header "
                                                f"{','.join(CSV_COLUMNS)}", "file")
        # the whole body has arrived and its signature is checked: only now is anything written
        now = self.wall_clock()
        for start in range(0, len(job.entries), _IMPORT_CHUNK):
            chunk_entries = job.entries[start:start + _IMPORT_CHUNK]
            async with self._changing:
                added = [(n, s) for n, s, _ in chunk_entries if self.lists.block(n, s)]
                try:
                    await self.store.execute([blacklist_op(n, s, r, "import", now) for n, s, r in chunk_entries])
                except WriteFailed as exc:
                    if not isinstance(exc, CommitOutcomeUnknown):  # it may have landed: keep blocking
                        for number, scope in added:
                            self.lists.unblock(number, scope)
                    raise
        return json_response({"added": len(job.entries), "duplicate": job.duplicate, "invalid": job.invalid,
                              "errors": job.errors})

    async def export_blacklist(self, request: Request) -> Response:
        store = self.store

        async def lines() -> AsyncIterator[bytes]:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            after = 0
            while True:
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
                rows = await store.read(blacklist_page, after, _EXPORT_PAGE)
                if not rows:
                    return
                writer.writerows((r.number, r.signature, r.reason or "") for r in rows)
                after = rows[-1].id

        return Response(200, [("content-type", "text/csv; charset=utf-8"),
                              ("content-disposition", 'attachment; filename="blacklist.csv"')], lines())

    # ---------------------------------------------------------------- whitelist
    async def add_whitelisted(self, request: Request) -> Response:
        body = json_body(request)
        number, reason = _entry(lambda: (entry_number(body.get("number")), entry_reason(body.get("reason"))))
        exempt = self.lists.exempt
        async with self._changing:
            added = number not in exempt
            capacity = self.limits.policy.whitelist_capacity
            if added and len(exempt) >= capacity:
                raise HTTPError(409, "whitelist_full", f"the whitelist holds its capacity of {capacity} numbers; "
                                                       "remove one first (or raise policy.whitelist_capacity)",
                                "number")
            exempt.add(number)
            try:
                await self.store.execute([(INSERT_WHITELIST, {"w_number": number, "w_reason": reason,
                                                              "w_at": self.wall_clock()})])
            except WriteFailed:
                if added:
                    exempt.discard(number)
                raise
        row = await self.store.read(whitelist_row, number)
        return json_response({**whitelist_item(row), "created": added}, 201 if added else 200)

    async def list_whitelist(self, request: Request) -> Response:
        after, limit = _cursor(request)
        rows = await self.store.read(whitelist_page, after, limit)
        return json_response({"items": [whitelist_item(r) for r in rows], "next": str(rows[-1].id if rows else after),
                              "count": len(self.lists.exempt), "capacity": self.limits.policy.whitelist_capacity})

    async def remove_whitelisted(self, request: Request) -> Response:
        number = _entry(lambda: entry_number(request.path_params["number"]))
        async with self._changing:
            if number not in self.lists.exempt:
                raise HTTPError(404, "not_found", f"{number} is not on the whitelist")
            await self.store.execute([(DELETE_WHITELIST, {"w_number": number})])
            self.lists.exempt.discard(number)
        return json_response({"number": number, "removed": True})


def _entry(parse: Callable[[], T]) -> T:
    """``parse()``, with a field error turned into 400 ``invalid_number`` / ``invalid_entry``."""
    try:
        return parse()
    except InvalidEntry as exc:
        code = "invalid_number" if exc.field == "number" else "invalid_entry"
        raise HTTPError(400, code, str(exc), exc.field) from None
