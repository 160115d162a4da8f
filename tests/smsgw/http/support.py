"""A server on 127.0.0.1 port 0 and a raw h11 client, for the HTTP tests."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import h11
import trio

from smsgw.http.server import Handler, Limits, serve_http
from smsgw.http.types import Request


@dataclass
class Running:
    port: int
    stop: trio.Event
    finished: trio.Event

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def running(
    handler: Handler, *, limits: Limits | None = None, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Running]:
    """serve_http in the background for the duration of the block; cancelled at its end."""
    stop = trio.Event()
    finished = trio.Event()

    async def serve(task_status: trio.TaskStatus[int]) -> None:
        start = partial(
            serve_http, handler, "127.0.0.1", 0,
            limits=limits or Limits(), ssl_context=ssl_context, stop=stop,
        )
        async with trio.open_nursery() as inner:
            listeners = await inner.start(start)
            task_status.started(listeners[0].socket.getsockname()[1])
        finished.set()

    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve)
        yield Running(port, stop, finished)
        nursery.cancel_scope.cancel()


class Client:
    """One client connection, h11 on the client side, raw bytes when a test needs them."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
    ) -> tuple[h11.Response, bytes]:
        all_headers = [("host", "test"), *(headers or [])]
        if body and not any(name.lower() == "transfer-encoding" for name, _ in all_headers):
            all_headers.append(("content-length", str(len(body))))
        data = self.conn.send(h11.Request(method=method, target=target, headers=all_headers))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        return await self.response()

    async def response(self) -> tuple[h11.Response, bytes]:
        """The next response; after raw ``stream.send_all`` the h11 side is stepped past a
        stand-in GET so it parses the response (pipelined ones included)."""
        if self.conn.our_state is h11.IDLE:
            self.conn.send(h11.Request(method="GET", target="/", headers=[("host", "test")]))
            self.conn.send(h11.EndOfMessage())
        head: h11.Response | None = None
        body = bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                if self.conn.their_state is h11.DONE:
                    self.conn.start_next_cycle()
                return head, bytes(body)
            elif isinstance(event, h11.InformationalResponse):
                continue
            else:
                raise AssertionError(f"unexpected {event!r}")

    async def raw_response(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        received = bytearray()
        while chunk := await self.stream.receive_some(65536):
            received += chunk
        return bytes(received)

    async def closed_by_server(self) -> bool:
        try:
            return await self.stream.receive_some(65536) == b""
        except trio.BrokenResourceError:
            return True


def header(response: h11.Response, name: str) -> str | None:
    for key, value in response.headers:
        if key.decode() == name.lower():
            return value.decode()
    return None


def make_request(
    method: str = "GET",
    target: str = "/",
    headers: dict[str, str] | None = None,
    chunks: tuple[bytes, ...] = (),
    max_body: int = 1024,
) -> Request:
    """A request whose body arrives as ``chunks``, with no connection behind it."""
    pending = list(chunks)

    async def receive() -> bytes | None:
        return pending.pop(0) if pending else None

    return Request(method, target, dict(headers or {}), receive=receive, max_body=max_body)
