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
when the body failed, the response says ``Connection: close``. A body must not fall silent for
``body_timeout`` and must be complete within ``upload_timeout`` of its head (else 408 and close).
h11 processes one request at a time, so pipelined requests wait in its buffer for the next cycle.

Errors: malformed head → 400, head too large → 431, ``HTTPError`` from the handler → its JSON
error, any other exception → logged and 500 (the connection is kept when h11 allows it). A write
that does not complete within ``send_timeout`` closes the connection.

Graceful stop: setting ``stop`` closes the listeners, closes idle connections, lets every request
in progress finish with ``Connection: close`` and cancels what is still running after
``shutdown_timeout``.
"""

from __future__ import annotations

import errno
import math
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from email.utils import formatdate
from http import HTTPStatus

import h11
import structlog
import trio

from smsgw.http import lean
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
    upload_timeout: float = 900.0
    """Seconds from a request's head to the end of its body, however steadily it trickles (streamed
    uploads are unbounded in size, so silence alone would let one be held open for ever); then
    408 ``upload_timeout`` and close."""
    keepalive_timeout: float = 30.0
    """Seconds an idle keep-alive connection is kept open waiting for its next request."""
    send_timeout: float = 30.0
    """Seconds one write may take (a client not reading its response); then the connection closes."""
    shutdown_timeout: float = 10.0
    """Seconds requests in progress get to finish after ``stop`` is set."""
    drain_bytes: int = 64 * 1024
    """Unread request body the server still reads and discards to keep the connection alive."""
    max_connections: int = 10_000
    """Open connections; at the cap no more are accepted until one closes (they wait in the
    listen backlog), so slow or idle clients cannot take every file descriptor of the daemon."""

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
        self.slots = trio.CapacityLimiter(limits.max_connections)

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
            token = object()
            await self.slots.acquire_on_behalf_of(token)
            try:
                stream = await listener.accept()
            except OSError as exc:
                self.slots.release_on_behalf_of(token)
                if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                    raise
                log.error("http_accept_failed", error=str(exc))
                await trio.sleep(0.1)
                continue
            except BaseException:
                self.slots.release_on_behalf_of(token)
                raise
            nursery.start_soon(self._serve_connection, stream, token)

    async def _serve_connection(self, stream: trio.abc.Stream, token: object) -> None:
        try:
            await self._serve(stream)
        finally:
            self.slots.release_on_behalf_of(token)

    async def _serve(self, stream: trio.abc.Stream) -> None:
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
        # The socket's descriptor when the stream is plain TCP (``_send`` writes to it directly).
        self.fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else None
        self.conn: h11.Connection | None = None  # None: the lean path (lean.py) reads and writes
        self.buffer = bytearray()  # lean path: received and not yet consumed
        self.body_length = 0  # lean path: the request's Content-Length
        self.body_left = 0  # lean path: of which not yet received
        self.body_failed = False  # lean path: the peer closed before the body ended
        self.body_done = False  # lean path: its end was reported (h11's EndOfMessage: state DONE)
        self.idle_scope: trio.CancelScope | None = None
        self.served = 0
        self.body_timed_out = False
        self.body_deadline = math.inf  # the current request's whole body must have arrived by then

    def cancel_idle_wait(self) -> None:
        """Shutdown: a connection waiting for its next request closes now."""
        if self.idle_scope is not None:
            self.idle_scope.cancel()

    async def run(self) -> None:
        try:
            while not self.server.stopping:
                deadline = None
                if self.conn is None:
                    head = await self._read_lean_head()
                    if head is None:
                        return
                    if isinstance(head, lean.Head):
                        if await self._answer_lean(head):
                            await self._close_gracefully()
                            return
                        self.served += 1
                        continue
                    deadline = head  # handed to h11 mid-head: the head's deadline still holds
                event = await self._read_head(deadline)
                if event is None:
                    return
                await self._answer(event)
                conn = self._h11()
                if conn.our_state is h11.MUST_CLOSE:
                    await self._close_gracefully()
                    return
                conn.start_next_cycle()
                self.served += 1
        except _Closed:
            pass
        finally:
            await trio.aclose_forcefully(self.stream)

    def _h11(self) -> h11.Connection:
        """The connection's h11 state machine, created (and given the unread bytes) on first use:
        from then on h11 reads and writes everything on this connection."""
        if self.conn is None:
            self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
            self.conn.receive_data(bytes(self.buffer))
            self.buffer.clear()
        return self.conn

    # -- reading ------------------------------------------------------------------------------

    async def _read_lean_head(self) -> lean.Head | float | None:
        """The next request's head if ``lean.parse_head`` reads it; else the connection is handed
        to h11 and the result is the head's deadline (h11 then reads or refuses it, including its
        answer to a timeout or a close mid-head); ``None``: close quietly (nothing was received).

        The hand-over happens as soon as h11 would act on the bytes so far (a complete head that
        ``parse_head`` declines, or ``lean.h11_would_act``)."""
        buffer = self.buffer
        deadline = trio.current_time() + self.limits.header_timeout if buffer else None
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = lean.parse_head(bytes(buffer[: end + 4]))
                if head is not None and head.size <= self.limits.max_header_bytes:
                    del buffer[: end + 4]
                    return head
                break
            if lean.h11_would_act(buffer, self.limits.max_header_bytes):
                break
            if deadline is None:
                data = await self._wait_first_bytes()
                if not data:
                    return None
                deadline = trio.current_time() + self.limits.header_timeout
            else:
                data = await self._receive(deadline)
                if data is None:
                    self._h11()
                    await self._send_error(
                        408, "header_timeout",
                        f"the request head was not complete within {self.limits.header_timeout} s",
                    )
                    return None
                if not data:
                    self._h11().receive_data(b"")  # h11 refuses the partial head as before
                    break
            buffer += data
        assert deadline is not None
        self._h11()
        return deadline

    async def _read_head(self, deadline: float | None = None) -> h11.Request | None:
        """The next request's head; ``None`` when the connection is to close (already answered).
        ``deadline``: the head started arriving before h11 took over."""
        conn = self._h11()
        started = deadline is not None or bool(conn.trailing_data[0])
        if deadline is None:
            deadline = trio.current_time() + self.limits.header_timeout
        while True:
            try:
                event = conn.next_event()
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
                conn.receive_data(data)
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
            return await self._receive(math.inf)
        return None

    async def _receive(self, deadline: float) -> bytes | None:
        """Bytes from the peer (``b""`` at EOF), ``None`` if ``deadline`` passed first."""
        if deadline == math.inf:  # the caller's own scope bounds it (an idle connection's wait)
            return await self._receive_now()
        with trio.move_on_at(deadline):
            return await self._receive_now()
        return None

    async def _receive_now(self) -> bytes:
        fd = self.fd
        if fd is None:
            try:
                return bytes(await self.stream.receive_some(_RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return b""
        # Plain TCP: what SocketStream.receive_some does (the same checkpoints, so a client
        # whose bytes are always ready cannot hold the loop), minus its wrappers.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            data = os.read(fd, _RECEIVE_SIZE)
        except BlockingIOError:
            pass
        except OSError:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return b""
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                return os.read(fd, _RECEIVE_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                return b""

    async def _receive_body(self) -> bytes | None:
        """The next body chunk for ``Request``; ``None`` at its end. Sends ``100 Continue`` the first
        time a client that asked for it has to be waited for."""
        conn = self.conn
        if conn is None:
            return await self._receive_lean_body()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise HTTPError(400, "malformed_body", f"the request body is malformed: {exc}") from exc
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    await self._send(conn.send(_CONTINUE))
                data = await self._receive(self._body_wait())
                if data is None:
                    raise self._body_timeout()
                conn.receive_data(data)
            elif isinstance(event, h11.Data):
                return bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return None
            else:
                raise HTTPError(400, "incomplete_body", "the connection closed before the body ended")

    async def _receive_lean_body(self) -> bytes | None:
        """``_receive_body`` of a lean head: the next of its Content-Length bytes, with h11's
        answers to a timeout and to a close before the end."""
        left = self.body_left
        if not left:
            self.body_done = True
            return None
        buffer = self.buffer
        if not buffer:
            data = await self._receive(self._body_wait())
            if data is None:
                raise self._body_timeout()
            if not data:
                self.body_failed = True
                received = self.body_length - left
                raise HTTPError(
                    400, "malformed_body",
                    "the request body is malformed: peer closed connection without sending complete"
                    f" message body (received {received} bytes, expected {self.body_length})",
                )
            if len(data) <= left:
                self.body_left = left - len(data)
                return data
            buffer += data
        chunk = bytes(buffer[:left])
        del buffer[:left]
        self.body_left = left - len(chunk)
        return chunk

    def _body_wait(self) -> float:
        """Until when to wait for the next body bytes."""
        return min(trio.current_time() + self.limits.body_timeout, self.body_deadline)

    def _body_timeout(self) -> HTTPError:
        self.body_timed_out = True
        if trio.current_time() >= self.body_deadline:
            return HTTPError(408, "upload_timeout",
                             f"the request body did not arrive in full within {self.limits.upload_timeout} s")
        return HTTPError(408, "body_timeout", f"no request body data for {self.limits.body_timeout} s")

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
        self.body_deadline = trio.current_time() + self.limits.upload_timeout
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
        conn = self._h11()
        waiting = conn.they_are_waiting_for_100_continue
        if conn.their_state is h11.SEND_BODY and not waiting and not self.body_timed_out:
            await self._discard_body()
        close = self.server.stopping or conn.their_state not in (h11.DONE, h11.MUST_CLOSE)
        await self._send_response(response, close, head_only=method == "HEAD")

    async def _answer_lean(self, head: lean.Head) -> bool:
        """``_answer`` for a lean head; whether the connection must close after the response."""
        self.body_timed_out = self.body_failed = self.body_done = False
        self.body_left = self.body_length = head.content_length
        if head.content_length:
            self.body_deadline = trio.current_time() + self.limits.upload_timeout
        try:
            request = Request(
                head.method, head.target, head.headers,
                receive=self._receive_body, max_body=self.limits.max_body_bytes, client=self.client,
            )
        except HTTPError as exc:
            response = response_for(exc)
        else:
            response = await self._call_handler(request)
        if not self.body_done and not self.body_timed_out and not self.body_failed:
            await self._discard_body()
        close = self.server.stopping or not self.body_done
        body = response.body
        data = None
        if isinstance(body, bytes):
            data = lean.encode_response(response.status, response.headers, body, _http_date(), close)
        if data is not None:
            await self._send(data)
        else:
            await self._send_response(response, close, encoder=_encoder(head.method))
        return close

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

    async def _send_response(
        self, response: Response, close: bool, head_only: bool = False, encoder: h11.Connection | None = None
    ) -> None:
        """Send ``response`` through h11: the connection's, or ``encoder`` for a lean head."""
        conn = encoder or self._h11()
        headers = [(b"date", _http_date())]
        headers += [(name.encode("ascii"), value.encode("latin-1")) for name, value in response.headers]
        if close:
            headers.append((b"connection", b"close"))
        body = response.body
        try:
            if isinstance(body, bytes):
                if response.status not in (204, 304):
                    headers.append((b"content-length", str(len(body)).encode("ascii")))
                data = conn.send(_head(response.status, headers))
                if body and not head_only:
                    data += conn.send(h11.Data(data=body))
                await self._send(data + conn.send(h11.EndOfMessage()))
                return
            await self._send(conn.send(_head(response.status, headers)))
        except h11.LocalProtocolError as exc:
            log.error("http_response_invalid", status=response.status, error=str(exc))
            raise _Closed from exc
        try:
            async for chunk in body:
                if chunk and not head_only:
                    await self._send(conn.send(h11.Data(data=chunk)))
        except _Closed:
            raise  # the client went away mid-body (``smsgw trace`` stopped, an export abandoned): no failure
        except Exception as exc:
            # The head is out: the only honest signal left is an unterminated chunked body.
            log.exception("http_response_body_failed", status=response.status)
            raise _Closed from exc
        await self._send(conn.send(h11.EndOfMessage()))

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
        if self.fd is not None:
            # Plain TCP: one write(2) usually takes it all, with no trip through trio's
            # scheduler (SocketStream.send_all yields once per call); trio sends the rest.
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise _Closed from exc
            if sent == len(data):
                return
            data = data[sent:]
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


def _encoder(method: str) -> h11.Connection:
    """An h11 connection that has just received a body-less keep-alive HTTP/1.1 ``method``
    request: it encodes (and validates) a response to a lean head as the connection's would."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(f"{method} / HTTP/1.1\r\nhost: lean\r\n\r\n".encode("ascii"))
    conn.next_event()
    conn.next_event()  # EndOfMessage
    return conn


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
