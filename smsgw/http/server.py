"""The HTTP/1.1 server: one trio task per connection driving an ``h11.Connection``.

Why our own loop and not an ASGI server: see docs/http.md (measured: a framework server is below
the 3,000 POST/s target; this loop is well above it).

Theory of operation. Each connection repeats one cycle: wait for the first byte of a request
(``keepalive_timeout`` between requests, ``header_timeout`` on a fresh connection; silence means a
quiet close), then for the complete head (``header_timeout`` from the first byte, else 408), build a
``Request`` whose body is pulled from h11 only when the handler asks for it (so ``100 Continue`` is
sent only then, and a handler that refuses early never receives a large body), call the handler,
then send the response: a bytes body in a single ``send_all``, an iterable body chunked. A body the
handler left unread is discarded up to ``drain_bytes`` to keep the connection; beyond that, or
when the body failed, the response says ``Connection: close``. h11 processes one request at a
time, so pipelined requests wait in its buffer for the next cycle.

Errors: malformed head → 400, head too large → 431, ``HTTPError`` from the handler → its JSON
error, any other exception → logged and 500 (the connection is kept when h11 allows it). A write
that does not complete within ``send_timeout`` closes the connection.

Graceful stop: setting ``stop`` closes the listeners, closes idle connections, lets every request
in progress finish with ``Connection: close`` and cancels what is still running after
``shutdown_timeout``.
"""

from __future__ import annotations

import errno
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from email.utils import formatdate
from http import HTTPStatus

import h11
import structlog
import trio

from smsgw.http.errors import HTTPError
from smsgw.http.types import Request, Response, error_response, response_for

Handler = Callable[[Request], Awaitable[Response]]
Listeners = Sequence[trio.abc.Listener[trio.abc.Stream]]

log = structlog.get_logger("smsgw.http")

_RECEIVE_SIZE = 64 * 1024
_LINGER_SECONDS = 2.0
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one slow or greedy client from holding memory or a connection.

    >>> Limits(header_timeout=2.0, max_body_bytes=1 << 20)  # doctest: +ELLIPSIS
    Limits(max_header_bytes=16384, max_body_bytes=1048576, header_timeout=2.0, ...)
    """

    max_header_bytes: int = 16 * 1024
    """Request line plus headers; more is answered 431."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Buffered bodies (``request.read()``); more is answered 413. Streamed bodies are unbounded."""
    header_timeout: float = 10.0
    """Seconds from a request's first byte (or a new connection) to its complete head; then 408."""
    body_timeout: float = 30.0
    """Seconds of silence tolerated while a body is being received; then 408 and close."""
    keepalive_timeout: float = 30.0
    """Seconds an idle keep-alive connection is kept open waiting for its next request."""
    send_timeout: float = 30.0
    """Seconds one write may take (a client not reading its response); then the connection closes."""
    shutdown_timeout: float = 10.0
    """Seconds requests in progress get to finish after ``stop`` is set."""
    drain_bytes: int = 64 * 1024
    """Unread request body the server still reads and discards to keep the connection alive."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"Limits.{f.name} must be positive, not {getattr(self, f.name)!r}")


async def serve_http(
    handler: Handler,
    listeners_or_host: Listeners | str,
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    limits: Limits = Limits(),
    stop: trio.Event | None = None,
    task_status: trio.TaskStatus[Listeners] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` until ``stop`` is set (then stop gracefully and return) or cancelled.

    ``listeners_or_host`` is a host to bind on ``port`` (0 picks a free port) or ready listeners,
    which the server then owns and closes. ``task_status.started`` reports the listeners, so
    ``(await nursery.start(serve_http, ...))[0].socket.getsockname()`` tells the bound address.
    """
    if isinstance(listeners_or_host, str):
        listeners: Listeners = await trio.open_tcp_listeners(port, host=listeners_or_host)
    else:
        listeners = listeners_or_host
    await _Server(handler, limits, ssl_context).run(listeners, stop, task_status)


class _Server:
    def __init__(self, handler: Handler, limits: Limits, ssl_context: ssl.SSLContext | None) -> None:
        self.handler = handler
        self.limits = limits
        self.ssl_context = ssl_context
        self.stopping = False
        self.connections: set[_Connection] = set()

    async def run(
        self, listeners: Listeners, stop: trio.Event | None, task_status: trio.TaskStatus[Listeners]
    ) -> None:
        try:
            async with trio.open_nursery() as connections:
                async with trio.open_nursery() as acceptors:
                    for listener in listeners:
                        acceptors.start_soon(self._accept_loop, listener, connections)
                    task_status.started(listeners)
                    await (stop.wait() if stop is not None else trio.sleep_forever())
                    acceptors.cancel_scope.cancel()
                await _close_listeners(listeners)
                self.stopping = True
                for connection in self.connections:
                    connection.cancel_idle_wait()
                connections.cancel_scope.deadline = trio.current_time() + self.limits.shutdown_timeout
        finally:
            await _close_listeners(listeners)

    async def _accept_loop(
        self, listener: trio.abc.Listener[trio.abc.Stream], nursery: trio.Nursery
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                    raise
                log.error("http_accept_failed", error=str(exc))
                await trio.sleep(0.1)
                continue
            nursery.start_soon(self._serve_connection, stream)

    async def _serve_connection(self, stream: trio.abc.Stream) -> None:
        client = None
        if isinstance(stream, trio.SocketStream):
            host, port, *_ = stream.socket.getpeername()
            client = f"{host}:{port}"
        if self.ssl_context is not None:
            stream = trio.SSLStream(stream, self.ssl_context, server_side=True, https_compatible=True)
        connection = _Connection(self, stream, client)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)


async def _close_listeners(listeners: Listeners) -> None:
    with trio.CancelScope(shield=True):
        for listener in listeners:
            await listener.aclose()


class _Closed(Exception):
    """The connection cannot be used any more (peer gone, write timed out, protocol state broken)."""


class _Connection:
    def __init__(self, server: _Server, stream: trio.abc.Stream, client: str | None) -> None:
        self.server = server
        self.limits = server.limits
        self.stream = stream
        self.client = client
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        self.idle_scope: trio.CancelScope | None = None
        self.served = 0
        self.body_timed_out = False

    def cancel_idle_wait(self) -> None:
        """Shutdown: a connection waiting for its next request closes now."""
        if self.idle_scope is not None:
            self.idle_scope.cancel()

    async def run(self) -> None:
        try:
            while not self.server.stopping:
                event = await self._read_head()
                if event is None:
                    return
                await self._answer(event)
                if self.conn.our_state is h11.MUST_CLOSE:
                    await self._close_gracefully()
                    return
                self.conn.start_next_cycle()
                self.served += 1
        except _Closed:
            pass
        finally:
            await trio.aclose_forcefully(self.stream)

    # -- reading ------------------------------------------------------------------------------

    async def _read_head(self) -> h11.Request | None:
        """The next request's head; ``None`` when the connection is to close (already answered)."""
        started = bool(self.conn.trailing_data[0])
        deadline = trio.current_time() + self.limits.header_timeout
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                await self._refuse_head(exc)
                return None
            if event is h11.NEED_DATA:
                if not started:
                    data = await self._wait_first_bytes()
                    if not data:
                        return None
                    started = True
                    deadline = trio.current_time() + self.limits.header_timeout
                else:
                    data = await self._receive(deadline)
                    if data is None:
                        await self._send_error(
                            408, "header_timeout",
                            f"the request head was not complete within {self.limits.header_timeout} s",
                        )
                        return None
                self.conn.receive_data(data)
            elif isinstance(event, h11.Request):
                if _head_size(event) > self.limits.max_header_bytes:
                    # h11 bounds only heads still incomplete; one that arrived whole is measured here.
                    await self._send_error(431, "headers_too_large", self._head_too_large())
                    return None
                return event
            else:  # ConnectionClosed: the client hung up between requests
                return None

    async def _wait_first_bytes(self) -> bytes | None:
        timeout = self.limits.keepalive_timeout if self.served else self.limits.header_timeout
        with trio.CancelScope(deadline=trio.current_time() + timeout) as self.idle_scope:
            if self.server.stopping:
                return None
            return await self._receive(float("inf"))
        return None

    async def _receive(self, deadline: float) -> bytes | None:
        """Bytes from the peer (``b""`` at EOF), ``None`` if ``deadline`` passed first."""
        with trio.move_on_at(deadline):
            try:
                return bytes(await self.stream.receive_some(_RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return b""
        return None

    async def _receive_body(self) -> bytes | None:
        """The next body chunk for ``Request``; ``None`` at its end. Sends ``100 Continue`` the first
        time a client that asked for it has to be waited for."""
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise HTTPError(400, "malformed_body", f"the request body is malformed: {exc}") from exc
            if event is h11.NEED_DATA:
                if self.conn.they_are_waiting_for_100_continue:
                    await self._send(self.conn.send(_CONTINUE))
                data = await self._receive(trio.current_time() + self.limits.body_timeout)
                if data is None:
                    self.body_timed_out = True
                    raise HTTPError(
                        408, "body_timeout", f"no request body data for {self.limits.body_timeout} s"
                    )
                self.conn.receive_data(data)
            elif isinstance(event, h11.Data):
                return bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return None
            else:
                raise HTTPError(400, "incomplete_body", "the connection closed before the body ended")

    async def _discard_body(self) -> None:
        """Read what the handler left unread, up to ``drain_bytes``, so the connection can stay."""
        discarded = 0
        try:
            while discarded <= self.limits.drain_bytes:
                chunk = await self._receive_body()
                if chunk is None:
                    return
                discarded += len(chunk)
        except HTTPError:
            return

    # -- answering ----------------------------------------------------------------------------

    async def _answer(self, event: h11.Request) -> None:
        self.body_timed_out = False
        method = event.method.decode("ascii")
        target = event.target.decode("ascii")
        try:
            request = Request(
                method, target, _header_dict(event.headers),
                receive=self._receive_body, max_body=self.limits.max_body_bytes, client=self.client,
            )
        except HTTPError as exc:
            response = response_for(exc)
        else:
            response = await self._call_handler(request)
        waiting = self.conn.they_are_waiting_for_100_continue
        if self.conn.their_state is h11.SEND_BODY and not waiting and not self.body_timed_out:
            await self._discard_body()
        close = self.server.stopping or self.conn.their_state not in (h11.DONE, h11.MUST_CLOSE)
        await self._send_response(response, close, head_only=method == "HEAD")

    async def _call_handler(self, request: Request) -> Response:
        try:
            return await self.server.handler(request)
        except HTTPError as exc:
            return response_for(exc)
        except _Closed:
            raise  # the client went away while the handler read the body: nobody to answer
        except Exception:
            log.exception("http_handler_failed", method=request.method, target=request.target)
            return error_response(500, "internal_error", "the server failed to handle the request")

    async def _send_response(self, response: Response, close: bool, head_only: bool = False) -> None:
        headers = [(b"date", _http_date())]
        headers += [(name.encode("ascii"), value.encode("latin-1")) for name, value in response.headers]
        if close:
            headers.append((b"connection", b"close"))
        body = response.body
        try:
            if isinstance(body, bytes):
                if response.status not in (204, 304):
                    headers.append((b"content-length", str(len(body)).encode("ascii")))
                data = self.conn.send(_head(response.status, headers))
                if body and not head_only:
                    data += self.conn.send(h11.Data(data=body))
                await self._send(data + self.conn.send(h11.EndOfMessage()))
                return
            await self._send(self.conn.send(_head(response.status, headers)))
        except h11.LocalProtocolError as exc:
            log.error("http_response_invalid", status=response.status, error=str(exc))
            raise _Closed from exc
        try:
            async for chunk in body:
                if chunk and not head_only:
                    await self._send(self.conn.send(h11.Data(data=chunk)))
        except Exception as exc:
            # The head is out: the only honest signal left is an unterminated chunked body.
            log.exception("http_response_body_failed", status=response.status)
            raise _Closed from exc
        await self._send(self.conn.send(h11.EndOfMessage()))

    async def _send_error(self, status: int, code: str, message: str) -> None:
        await self._send_response(error_response(status, code, message), close=True)
        await self._close_gracefully()

    async def _refuse_head(self, exc: h11.RemoteProtocolError) -> None:
        if exc.error_status_hint == 431:
            await self._send_error(431, "headers_too_large", self._head_too_large())
        else:
            await self._send_error(exc.error_status_hint, "malformed_request", f"malformed request: {exc}")

    def _head_too_large(self) -> str:
        return f"the request line and headers exceed {self.limits.max_header_bytes} bytes"

    async def _send(self, data: bytes | None) -> None:
        if not data:
            return
        with trio.move_on_after(self.limits.send_timeout):
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise _Closed from exc
            return
        raise _Closed

    async def _close_gracefully(self) -> None:
        """Close after a final response without losing it to a TCP reset: half-close, then read
        and drop whatever the client still sends, for at most ``_LINGER_SECONDS``."""
        with trio.move_on_after(_LINGER_SECONDS):
            try:
                if isinstance(self.stream, trio.SocketStream):
                    await self.stream.send_eof()
                    while await self.stream.receive_some(_RECEIVE_SIZE):
                        pass
                await self.stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass


_CONTINUE = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}


def _head(status: int, headers: list[tuple[bytes, bytes]]) -> h11.Response:
    return h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b""))


def _head_size(event: h11.Request) -> int:
    """Bytes of the request line and headers as sent, give or take optional whitespace."""
    line = len(event.method) + len(event.target) + 12  # spaces, "HTTP/1.1", CRLF
    return line + sum(len(name) + len(value) + 4 for name, value in event.headers) + 2


def _header_dict(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("ascii")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


_date_cache: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """The Date header value, formatted at most once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode("ascii"))
    return _date_cache[1]
