"""The HTTP API routes (CONTRACT §5) on the h11 server and router of ``smsgw.http``."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import structlog
import trio
from sqlalchemy import Connection, select

from . import api_batches, api_stats
from .callbacks import CALLBACK_RETRY, CallbackSender, get_callback, list_callbacks
from .callbacks import STATES as CALLBACK_STATES
from .http.auth import RequestVerifier, _unauthorized
from .http.errors import HTTPError, Refused
from .http.router import ResponseSpec, Router
from .http.types import Request, Response, json_response
from .intake import Intake
from .keys import ApiKey, load_key, revoked
from .store.errors import CommitOutcomeUnknown, DatabaseUnavailable, ReadFailed, WriterClosed
from .store.schema import messages, mo_messages, reports, segments
from .trace import TraceHub

log = structlog.get_logger("smsgw.api")

#: seconds between re-checks of the cached API keys (a disabled key is refused within this)
KEY_RECHECK = 5.0

_MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["to"],
    "properties": {
        "to": {"type": "string", "description": "mobile number; +86/0086/86 prefixes accepted"},
        "text": {"type": "string"},
        "signature": {"type": "string"},
        "template_id": {"type": "string"},
        "params": {"type": "object"},
        "channel": {"type": "string"},
        "callback_url": {"type": "string"},
        "client_ref": {"type": "string"},
    },
}
_ACCEPTED = {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"},
                                              "segments": {"type": "integer"}}}


def json_body(request: Request) -> dict[str, Any]:
    raw = request.body or b"null"
    try:
        body = json.loads(raw)
        # only an escape can put a NUL in a JSON string, so the walk runs only when there is one
        nul = b"\\u0000" in raw and _has_nul(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[..." a few thousand deep: the decoder recurses per level
        raise HTTPError(400, "invalid_json", "the body nests arrays or objects too deeply") from None
    if nul:
        raise HTTPError(400, "invalid_json", "strings must not contain U+0000 (NUL): no handset shows it and "
                                             "PostgreSQL cannot store it")
    if not isinstance(body, dict):
        raise HTTPError(400, "invalid_json", "the body must be a JSON object")
    return body


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def principal(request: Request) -> tuple[str, bool]:
    assert request.principal is not None
    return request.principal.key_id, request.principal.is_admin


MAX_ID = (1 << 63) - 1  # ids and cursors are signed 64-bit columns


def whole_number(raw: str) -> int | None:
    """``raw`` as an integer from 0 to ``MAX_ID``, else None. ASCII digits only: ``str.isdigit``
    also takes "²" (which ``int`` refuses) and other scripts' digits, and a larger value does not
    fit the database's integer (both were a 500)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


def id_param(request: Request) -> int:
    raw = request.path_params["id"]
    value = whole_number(raw)
    if value is None:
        raise HTTPError(404, "not_found", f"nothing has the id {raw!r}")
    return value


class Api:
    """Builds the router; handlers read through the store and write through intake."""

    def __init__(self, intake: Intake, metrics_text: Any, channels_status: Any, *,
                 callbacks: CallbackSender | None = None, trace: TraceHub | None = None) -> None:
        self.intake = intake
        self.store = intake.store
        self.metrics_text = metrics_text
        self.channels_status = channels_status
        self.callbacks = callbacks
        self.trace = trace
        self.keys: dict[str, ApiKey] = {}
        self.router = Router(RequestVerifier(self._lookup))
        add = self.router.add
        add("POST", "/v1/messages", self.post_message, auth="key", summary="Submit one message",
            request_schema=_MESSAGE_SCHEMA, responses={202: _ACCEPTED})
        add("GET", "/v1/messages/{id}", self.get_message, auth="key", summary="Status of one message")
        add("GET", "/v1/reports", self.get_reports, auth="key", summary="Final statuses in arrival order",
            query={"after": {"type": "string"}, "limit": {"type": "integer"}})
        add("GET", "/v1/mo", self.get_mo, auth="admin",
            summary="Mobile-originated messages in arrival order (admin: MO belongs to no key)",
            query={"after": {"type": "string"}, "limit": {"type": "integer"}})
        add("GET", "/v1/channels", self.get_channels, auth="key", summary="Channels and their sessions")
        add("GET", "/v1/channels/{name}/trace", self.get_trace, auth="admin",
            summary="Live stream of the channel's decoded PDUs, one JSON line each (chunked)",
            responses={200: ResponseSpec({"type": "string"}, "JSON lines, until the client disconnects",
                                         "application/x-ndjson")})
        add("GET", "/v1/callbacks", self.get_callbacks, auth="key",
            summary="Callback outbox rows (the key's own; admin: all), e.g. the dead letters with state=dead",
            query={"state": {"type": "string", "enum": list(CALLBACK_STATES)}, "after": {"type": "string"},
                   "limit": {"type": "integer"}})
        add("POST", "/v1/callbacks/{id}/retry", self.retry_callback, auth="key",
            summary="Put a pending or dead callback back in the queue with a fresh retry schedule",
            responses={200: {"type": "object"}})
        add("GET", "/healthz", self.healthz, summary="200 when the store answers and intake is open")
        add("GET", "/metrics", self.metrics, summary="Prometheus metrics",
            responses={200: {"type": "string"}})
        api_stats.register(self)
        from .api_lists import register as register_lists  # imports this module: not at the top

        register_lists(self)
        api_content.register(self)
        self.batches = api_batches.register(self)
        self.router.add_openapi_route("smsgw", "0.1.0")

    def _lookup(self, key_id: str) -> tuple[str, bool] | Awaitable[tuple[str, bool] | None]:
        """A cached key at once; otherwise an awaitable that loads it (the verifier awaits it)."""
        key = self.keys.get(key_id)
        if key is None:
            return self._load_key(key_id)
        return key.secret, key.is_admin

    async def _load_key(self, key_id: str) -> tuple[str, bool] | None:
        key = await self.store.read(load_key, key_id)
        if key is None:
            return None
        self.keys[key_id] = key
        return key.secret, key.is_admin

    async def watch_keys(self) -> None:
        """Drop cached keys that were disabled or deleted (``smsgw keys disable`` writes the
        database, possibly from another process): they are refused within ``KEY_RECHECK`` s."""
        while True:
            await trio.sleep(KEY_RECHECK)
            if self.keys:
                for key_id in await self.store.read(revoked, list(self.keys)):
                    self.keys.pop(key_id, None)
                    log.info("api key revoked", key=key_id)

    def caller(self, request: Request) -> ApiKey:
        """The verified caller's key (the verifier has loaded it into the cache)."""
        assert request.principal is not None
        key = self.keys.get(request.principal.key_id)
        if key is None:  # disabled (``watch_keys``) while the request's body was arriving
            raise _unauthorized("unknown_key", f"API key {request.principal.key_id!r} is unknown", "X-Api-Key")
        return key

    # ----------------------------------------------------------------- messages
    async def post_message(self, request: Request) -> Response:
        key = self.caller(request)
        body = json_body(request)
        try:
            draft = self.intake.draft(body, key)
        except Refused:
            # A retry of a request that was stored (its 202 lost) gets its message back even if the
            # content rules changed since (template deleted or unapproved): only a refusal reads this.
            if (existing := await self.intake.sent_before(key, body.get("client_ref"))) is not None:
                return json_response(existing, 202)
            raise
        return json_response(await self.intake.accept(key, draft), 202)

    async def get_message(self, request: Request) -> Response:
        key_id, admin = principal(request)
        found = await self.store.read(_message, id_param(request), None if admin else key_id)
        if found is None:
            raise HTTPError(404, "not_found", f"no message {request.path_params['id']!r} for this key")
        return json_response(found)

    # ------------------------------------------------------------ reports, MO
    async def get_reports(self, request: Request) -> Response:
        key_id, admin = principal(request)
        after, limit = _cursor(request)
        items, last = await self.store.read(_reports, None if admin else key_id, after, limit)
        return json_response({"items": items, "next": str(last)})

    async def get_mo(self, request: Request) -> Response:
        after, limit = _cursor(request)
        items, last = await self.store.read(_mo, after, limit)
        return json_response({"items": items, "next": str(last)})

    # --------------------------------------------------------------- operations
    async def get_channels(self, request: Request) -> Response:
        return json_response(await self.channels_status())

    async def get_trace(self, request: Request) -> Response:
        name = request.path_params["name"]
        if self.trace is None or name not in self.trace.channels:
            raise HTTPError(404, "unknown_channel", f"no channel named {name!r}")
        if self.trace.closed.is_set():
            raise HTTPError(503, "shutting_down", "the gateway is stopping")
        return Response(200, [("content-type", "application/x-ndjson"), ("cache-control", "no-cache")],
                        self.trace.stream(name))

    # ---------------------------------------------------------------- callbacks
    async def get_callbacks(self, request: Request) -> Response:
        key_id, admin = principal(request)
        state = request.query.get("state") or None
        if state is not None and state not in CALLBACK_STATES:
            raise HTTPError(400, "invalid_state", f"\"state\" must be one of {', '.join(CALLBACK_STATES)}", "state")
        after, limit = _cursor(request)
        items, last = await self.store.read(list_callbacks, None if admin else key_id, state, after, limit)
        return json_response({"items": items, "next": str(last)})

    async def retry_callback(self, request: Request) -> Response:
        key_id, admin = principal(request)
        callback_id = id_param(request)
        found = await self.store.read(get_callback, callback_id, None if admin else key_id)
        if found is None:
            raise HTTPError(404, "not_found", f"no callback {request.path_params['id']!r} for this key")
        if found["state"] == "delivered":
            raise HTTPError(409, "already_delivered", "this callback was delivered; nothing to retry")
        await self.store.execute([(CALLBACK_RETRY, {"cb_id": callback_id, "at": self.intake.wall_clock()})])
        if self.callbacks is not None:
            self.callbacks.wake()
        return json_response({"id": found["id"], "state": "pending", "attempts": 0})

    async def handle(self, request: Request) -> Response:
        """The router; a database that is unreachable or could not confirm a write (and no
        handler answered for it) is a 503 the client may retry, not a 500. The details go to
        the log, not to the client (they may name values, hosts, users)."""
        try:
            return await self.router(request)
        except (CommitOutcomeUnknown, DatabaseUnavailable, ReadFailed, WriterClosed) as exc:
            log.warning("store_unavailable", method=request.method, target=request.target, error=str(exc))
            raise HTTPError(503, "store_unavailable",
                            "the database could not complete or confirm this request; retry it (a message "
                            "retried with the same client_ref is stored once)",
                            headers=(("Retry-After", "1"),)) from None

    async def healthz(self, request: Request) -> Response:
        if not self.intake.open:
            raise HTTPError(503, "shutting_down", "intake is closed: the gateway is stopping")
        try:
            await self.store.read(_ping)
        except Exception as exc:
            raise HTTPError(503, "store_unavailable", f"the database does not answer: {exc}") from None
        return json_response({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        body, content_type = self.metrics_text()
        return Response(200, [("content-type", content_type)], body)


def _cursor(request: Request) -> tuple[int, int]:
    after = whole_number(request.query.get("after", "0") or "0")
    if after is None:
        raise HTTPError(400, "invalid_cursor", "\"after\" must be a cursor returned as \"next\"", "after")
    return after, page_limit(request, "100")


def page_limit(request: Request, default: str) -> int:
    limit = whole_number(request.query.get("limit", default))
    if limit is None or not 1 <= limit <= 1000:
        raise HTTPError(400, "invalid_limit", "\"limit\" must be an integer from 1 to 1000", "limit")
    return limit


def _ping(conn: Connection) -> int:
    return int(conn.execute(select(1)).scalar_one())


def _message(conn: Connection, message_id: int, key_id: str | None) -> dict[str, Any] | None:
    m, s = messages.c, segments.c
    query = select(messages).where(m.id == message_id)
    if key_id is not None:
        query = query.where(m.key_id == key_id)
    row = conn.execute(query).first()
    if row is None:
        return None
    parts = conn.execute(select(segments).where(s.message_id == message_id).order_by(s.idx)).all()
    status = row.status
    if status == "accepted" and any(p.status != "accepted" for p in parts):
        status = "submitted" if all(p.status != "accepted" for p in parts) else "accepted"
    error = {"code": row.error_code, "message": row.error_message} if row.error_code else None
    return {
        "id": str(row.id), "to": row.to_number, "status": status, "channel": row.channel,
        "segments": [{"index": p.idx, "smsc_id": p.smsc_id, "status": p.status, "stat": p.stat, "err": p.err}
                     for p in parts],
        "error": error, "client_ref": row.client_ref, "created_at": row.created_at,
        "submitted_at": row.submitted_at, "done_at": row.done_at,
    }


def _reports(conn: Connection, key_id: str | None, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    r = reports.c
    query = select(reports).where(r.id > after).order_by(r.id).limit(limit)
    if key_id is not None:
        query = query.where(r.key_id == key_id)
    rows = conn.execute(query).all()
    items = [{"message_id": str(x.message_id), "to": x.to_number, "status": x.status, "stat": x.stat,
              "err": x.err, "done_at": x.done_at, "client_ref": x.client_ref} for x in rows]
    return items, rows[-1].id if rows else after


def _mo(conn: Connection, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    o = mo_messages.c
    rows = conn.execute(select(mo_messages).where(o.id > after).order_by(o.id).limit(limit)).all()
    items = [{"id": str(x.id), "channel": x.channel, "from": x.from_number, "to": x.to_number, "text": x.text,
              "received_at": x.received_at} for x in rows]
    return items, rows[-1].id if rows else after


from . import api_content  # noqa: E402  (its routes use this module's helpers)
