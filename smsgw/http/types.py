"""Request and response values handed between the server, the router and route handlers.

A request's body is not read before the handler asks for it: ``await request.read()`` buffers it
under the server's size limit, ``request.stream()`` yields it chunk by chunk with no limit (a
1,000,000-row CSV upload never sits in memory whole). Either consumes it; only one may be used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from smsgw.http.errors import HTTPError

if TYPE_CHECKING:
    from hashlib import _Hash

ReceiveChunk = Callable[[], Awaitable[bytes | None]]
"""Next piece of the request body from the connection, ``None`` once the body is complete."""

BodyCheck = Callable[[str], object]
"""Called with hex(SHA256(body)) once the whole body has arrived; raises to refuse the request."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The API key a request was verifiably signed with."""

    key_id: str
    is_admin: bool


class Request:
    """One HTTP request. ``target`` is the path-with-query exactly as sent: signatures cover it."""

    __slots__ = (
        "_body",
        "_body_check",
        "_complete",
        "_consuming",
        "_hasher",
        "_max_body",
        "_receive",
        "client",
        "headers",
        "method",
        "path",
        "path_params",
        "principal",
        "query",
        "raw_path",
        "target",
    )

    def __init__(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        *,
        receive: ReceiveChunk,
        max_body: int,
        client: str | None = None,
    ) -> None:
        if not target.startswith("/"):
            raise HTTPError(400, "bad_target", f"request target {target!r} must be a path starting with /")
        raw_path, _, raw_query = target.partition("?")
        self.method = method
        self.target = target
        self.raw_path = raw_path
        self.path = unquote(raw_path)
        self.query = _parse_query(raw_query) if raw_query else {}
        self.headers = headers
        self.client = client
        self.path_params: dict[str, str] = {}
        self.principal: Principal | None = None
        self._receive = receive
        self._max_body = max_body
        self._body: bytes | None = None
        self._body_check: BodyCheck | None = None
        self._hasher: _Hash | None = None
        self._consuming = False
        self._complete = False

    @property
    def body(self) -> bytes:
        """The buffered body; only after ``await read()`` (the router does it for non-streaming routes)."""
        if self._body is None:
            raise RuntimeError("request body not read: await request.read() or declare the route streaming")
        return self._body

    def set_body_check(self, check: BodyCheck) -> None:
        """Run ``check`` on the body's SHA-256 once it has been received in full, before the
        last ``read()`` / ``stream()`` step returns. The router uses it for signature checks."""
        if self._consuming:
            raise RuntimeError("set_body_check after the body started being consumed")
        self._body_check = check
        self._hasher = hashlib.sha256()

    async def read(self) -> bytes:
        """Buffer the whole body; ``HTTPError`` 413 ``body_too_large`` past the server's limit."""
        if self._body is not None:
            return self._body
        self._start_consuming()
        declared = self.headers.get("content-length")
        if declared is not None and int(declared) > self._max_body:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while (chunk := await self._next_chunk()) is not None:
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large()
            chunks.append(chunk)
        self._body = b"".join(chunks)
        return self._body

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks as they arrive. A body check (signature) runs after the last
        chunk: a handler must not make the data durable before the iteration ends cleanly."""
        self._start_consuming()
        while (chunk := await self._next_chunk()) is not None:
            yield chunk

    async def drain(self) -> None:
        """Receive and discard what the handler left unread, running the body check."""
        self._consuming = True
        while await self._next_chunk() is not None:
            pass

    def _start_consuming(self) -> None:
        if self._consuming:
            raise RuntimeError("the request body can be consumed only once")
        self._consuming = True

    async def _next_chunk(self) -> bytes | None:
        if self._complete:
            return None
        chunk = await self._receive()
        if chunk is None:
            self._complete = True
            if self._body_check is not None and self._hasher is not None:
                self._body_check(self._hasher.hexdigest())
        elif self._hasher is not None:
            self._hasher.update(chunk)
        return chunk

    def _too_large(self) -> HTTPError:
        return HTTPError(413, "body_too_large", f"the request body exceeds {self._max_body} bytes")


def _parse_query(raw: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name in query:
            raise HTTPError(400, "repeated_query_parameter", f"query parameter {name!r} is repeated", name)
        query[name] = value
    return query


@dataclass(slots=True)
class Response:
    """Status, headers and a body: bytes (sent with Content-Length) or an async iterable of bytes
    (sent chunked, each chunk as it is produced)."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterable[bytes] = b""


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # json.dumps builds one per call


def json_response(obj: object, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``obj`` as compact UTF-8 JSON (non-ASCII kept as is: numbers and Chinese text stay readable)."""
    body = _JSON.encode(obj).encode()
    return Response(status, [("content-type", "application/json"), *headers], body)


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    details: dict[str, object] | None = None,
) -> Response:
    """CONTRACT's error shape: ``{"error": {"code", "message", "field"}}`` (``field`` when given),
    plus any ``details`` members (e.g. ``retry_at`` of a frequency limit)."""
    error: dict[str, object] = {**(details or {}), "code": code, "message": message}
    if field is not None:
        error["field"] = field
    return json_response({"error": error}, status, headers)


def response_for(exc: HTTPError) -> Response:
    """The error response an ``HTTPError`` stands for."""
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers, exc.details)
