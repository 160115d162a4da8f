"""The h11 server over real TCP on 127.0.0.1 port 0: framing, limits, timeouts, errors, shutdown.

Every test runs under ``trio.fail_after``; timeouts under test are set to fractions of a second."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from smsgw.http.errors import HTTPError
from smsgw.http.router import Router
from smsgw.http.server import Limits
from smsgw.http.types import Request, Response, json_response
from tests.smsgw.http.support import Client, header, running

SHORT = Limits(header_timeout=0.3, body_timeout=0.3, keepalive_timeout=0.3, shutdown_timeout=0.5)


async def echo(request: Request) -> Response:
    body = await request.read()
    return json_response({"method": request.method, "target": request.target, "size": len(body)})


def error_of(body: bytes) -> dict[str, str]:
    return json.loads(body)["error"]  # type: ignore[no-any-return]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"Limits\.header_timeout must be positive"):
        Limits(header_timeout=0)


async def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            first, body1 = await client.request("POST", "/a", b'{"x":1}')
            second, body2 = await client.request("GET", "/b?c=d")
            assert (first.status_code, json.loads(body1)) == (200, {"method": "POST", "target": "/a", "size": 7})
            assert (second.status_code, json.loads(body2)["target"]) == (200, "/b?c=d")
            assert header(second, "content-type") == "application/json"
            assert header(second, "date") is not None


async def test_pipelined_requests_answered_in_order() -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(
                b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                b"POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
                b"GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            targets = []
            for _ in range(3):
                _, body = await client.response()
                targets.append(json.loads(body)["target"])
            assert targets == ["/1", "/2", "/3"]
            assert await client.closed_by_server()


async def test_h11_takes_over_mid_connection_for_an_unusual_request() -> None:
    # The first request is read by the lean path, the chunked one hands the connection to h11,
    # which then reads the rest as before.
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(
                b"POST /1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                b"POST /2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
                b"POST /3 HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx"
            )
            answers = []
            for _ in range(3):
                response, body = await client.response()
                answers.append((response.status_code, json.loads(body)["target"], json.loads(body)["size"]))
            assert answers == [(200, "/1", 3), (200, "/2", 2), (200, "/3", 1)]
            again, body = await client.request("GET", "/4")
            assert (again.status_code, json.loads(body)["target"]) == (200, "/4")


async def test_body_cut_short_is_400_with_h11s_message() -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            await client.stream.send_eof()
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 400 ")
            assert (b"peer closed connection without sending complete message body (received 3 bytes,"
                    b" expected 10)") in response
            assert b"connection: close" in response


async def test_router_404_and_405_as_json_over_the_wire() -> None:
    router = Router()
    router.add("GET", "/v1/things/{id}", echo, summary="thing")
    with trio.fail_after(5):
        async with running(router) as server:
            client = await Client.connect(server.port)
            missing, body = await client.request("GET", "/nope")
            assert (missing.status_code, error_of(body)["code"]) == (404, "not_found")
            wrong, body = await client.request("DELETE", "/v1/things/1")
            assert (wrong.status_code, error_of(body)["code"]) == (405, "method_not_allowed")
            assert header(wrong, "allow") == "GET"
            ok, body = await client.request("GET", "/v1/things/1")
            assert ok.status_code == 200


async def test_body_over_limit_is_413_json_and_connection_closes() -> None:
    with trio.fail_after(5):
        async with running(echo, limits=Limits(max_body_bytes=1000, drain_bytes=100)) as server:
            client = await Client.connect(server.port)
            response, body = await client.request("POST", "/", b"x" * 5000)
            assert response.status_code == 413
            assert error_of(body) == {"code": "body_too_large", "message": "the request body exceeds 1000 bytes"}
            assert header(response, "connection") == "close"
            assert await client.closed_by_server()


async def test_chunked_body_over_limit_is_413() -> None:
    with trio.fail_after(5):
        async with running(echo, limits=Limits(max_body_bytes=1000)) as server:
            client = await Client.connect(server.port)
            response, _ = await client.request(
                "POST", "/", b"x" * 1500, headers=[("transfer-encoding", "chunked")]
            )
            assert response.status_code == 413


async def test_small_unread_body_is_drained_and_connection_kept() -> None:
    async def ignores_body(request: Request) -> Response:
        return json_response({"ok": True})

    with trio.fail_after(5):
        async with running(ignores_body) as server:
            client = await Client.connect(server.port)
            first, _ = await client.request("POST", "/", b"x" * 500)
            assert header(first, "connection") is None
            second, _ = await client.request("POST", "/", b"y" * 10)
            assert second.status_code == 200


async def test_chunked_request_body() -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(
                b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
            response, body = await client.response()
            assert (response.status_code, json.loads(body)["size"]) == (200, 11)


async def test_streaming_upload_is_not_limited_and_arrives_in_chunks() -> None:
    sizes: list[int] = []

    async def upload(request: Request) -> Response:
        async for chunk in request.stream():
            sizes.append(len(chunk))
        return json_response({"total": sum(sizes)}, 202)

    router = Router()
    router.add("POST", "/upload", upload, summary="upload", streaming=True)
    payload = b"13800138000,1234\n" * 200_000  # 3.4 MB against a 64 KiB buffered limit
    with trio.fail_after(10):
        async with running(router, limits=Limits(max_body_bytes=64 * 1024)) as server:
            client = await Client.connect(server.port)
            response, body = await client.request(
                "POST", "/upload", payload, headers=[("transfer-encoding", "chunked")]
            )
            assert (response.status_code, json.loads(body)) == (202, {"total": len(payload)})
            assert len(sizes) > 1
            assert max(sizes) <= 64 * 1024


async def test_streaming_response_is_chunked() -> None:
    async def rows(request: Request) -> Response:
        async def produce() -> AsyncIterator[bytes]:
            yield b"to,status\n"
            for i in range(3):
                await trio.lowlevel.checkpoint()
                yield f"1380013800{i},delivered\n".encode()

        return Response(200, [("content-type", "text/csv")], produce())

    with trio.fail_after(5):
        async with running(rows) as server:
            client = await Client.connect(server.port)
            response, body = await client.request("GET", "/csv")
            assert header(response, "transfer-encoding") == "chunked"
            assert body.decode().splitlines() == [
                "to,status", "13800138000,delivered", "13800138001,delivered", "13800138002,delivered"
            ]
            again, _ = await client.request("GET", "/csv")
            assert again.status_code == 200


async def test_head_request_gets_headers_only() -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            response, body = await client.request("HEAD", "/h")
            assert (response.status_code, body) == (200, b"")
            assert header(response, "content-length") == str(len(b'{"method":"HEAD","target":"/h","size":0}'))


async def test_handler_exception_is_500_logged_and_connection_survives(capsys: pytest.CaptureFixture[str]) -> None:
    async def flaky(request: Request) -> Response:
        if request.target == "/boom":
            raise RuntimeError("database on fire")
        return json_response({"ok": True})

    with trio.fail_after(5):
        async with running(flaky) as server:
            client = await Client.connect(server.port)
            response, body = await client.request("GET", "/boom")
            assert response.status_code == 500
            assert error_of(body)["code"] == "internal_error"
            assert "database on fire" not in body.decode()
            again, _ = await client.request("GET", "/fine")
            assert again.status_code == 200
    logged = capsys.readouterr().out
    assert "http_handler_failed" in logged
    assert "database on fire" in logged


async def test_http_error_from_handler_keeps_its_status_and_field() -> None:
    async def refuses(request: Request) -> Response:
        raise HTTPError(422, "bad_number", "to must be a mobile number", "to")

    with trio.fail_after(5):
        async with running(refuses) as server:
            client = await Client.connect(server.port)
            response, body = await client.request("POST", "/", b"{}")
            assert response.status_code == 422
            assert error_of(body) == {"code": "bad_number", "message": "to must be a mobile number", "field": "to"}


async def test_failure_inside_a_streamed_response_cuts_the_connection_only() -> None:
    async def broken(request: Request) -> Response:
        async def produce() -> AsyncIterator[bytes]:
            yield b"first,"
            raise RuntimeError("cursor lost")

        return Response(200, [], produce())

    with trio.fail_after(5):
        async with running(broken) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            raw = await client.raw_response()
            assert raw.startswith(b"HTTP/1.1 200 ")
            assert not raw.endswith(b"0\r\n\r\n")  # no terminating chunk: the client sees the failure
            other = await Client.connect(server.port)
            await other.stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert (await other.raw_response()).startswith(b"HTTP/1.1 200 ")


async def test_a_client_leaving_a_streamed_response_is_no_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``smsgw trace`` stopped, an export abandoned: the body stops being read, nothing failed."""
    pulled = 0

    async def endless(request: Request) -> Response:
        async def produce() -> AsyncIterator[bytes]:
            nonlocal pulled
            while True:
                pulled += 1
                yield b"line\n" * 100
                await trio.sleep(0.005)

        return Response(200, [], produce())

    with trio.fail_after(5):
        async with running(endless) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert (await client.stream.receive_some(100)).startswith(b"HTTP/1.1 200 ")
            await client.stream.aclose()
            seen = -1
            while pulled != seen:  # until the server noticed and stopped pulling the body
                seen = pulled
                await trio.sleep(0.1)
    assert "http_response_body_failed" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: nope\r\n\r\n",
    ],
)
async def test_malformed_request_is_400_then_close(raw: bytes) -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(raw)
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 400 ")
            assert b'"code":"malformed_request"' in response
            assert b"connection: close" in response


async def test_malformed_chunked_body_is_400() -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(
                b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n"
            )
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 400 ")
            assert b'"code":"malformed_body"' in response


async def test_oversized_head_is_431() -> None:
    with trio.fail_after(5):
        async with running(echo, limits=Limits(max_header_bytes=1024)) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 431 ")
            assert b'"code":"headers_too_large"' in response


async def test_slow_head_gets_408_then_close() -> None:
    with trio.fail_after(5):
        async with running(echo, limits=SHORT) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 408 ")
            assert b'"code":"header_timeout"' in response


async def test_slow_body_gets_408_then_close() -> None:
    with trio.fail_after(5):
        async with running(echo, limits=SHORT) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 408 ")
            assert b'"code":"body_timeout"' in response


@pytest.mark.parametrize("framing", [b"Content-Length: 1000", b"Transfer-Encoding: chunked"])
async def test_a_body_trickling_past_the_upload_timeout_gets_408_then_close(framing: bytes) -> None:
    """A byte every 0.1 s never trips the 0.3 s of silence allowed, but the whole body must
    arrive within ``upload_timeout`` of the head (an upload could be held open for ever)."""
    received: list[int] = []

    async def upload(request: Request) -> Response:
        async for chunk in request.stream():
            received.append(len(chunk))
        return json_response({}, 202)

    router = Router()
    router.add("POST", "/upload", upload, summary="upload", streaming=True)
    chunk = b"1\r\nx\r\n" if b"chunked" in framing else b"x"
    with trio.fail_after(5):
        async with running(router, limits=Limits(body_timeout=0.3, upload_timeout=0.8)) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"POST /upload HTTP/1.1\r\nHost: t\r\n" + framing + b"\r\n\r\n")
            started = trio.current_time()

            async def trickle() -> None:
                with contextlib.suppress(trio.BrokenResourceError):
                    while True:
                        await client.stream.send_all(chunk)
                        await trio.sleep(0.1)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(trickle)
                response = await client.raw_response()
                nursery.cancel_scope.cancel()
            assert response.startswith(b"HTTP/1.1 408 ")
            assert b'"code":"upload_timeout"' in response and b"connection: close" in response.lower()
            assert 0.8 <= trio.current_time() - started < 2 and len(received) >= 5


async def test_silent_new_connection_and_idle_keep_alive_are_closed_quietly() -> None:
    with trio.fail_after(5):
        async with running(echo, limits=SHORT) as server:
            silent = await Client.connect(server.port)
            assert await silent.raw_response() == b""
            idle = await Client.connect(server.port)
            response, _ = await idle.request("GET", "/")
            assert response.status_code == 200
            start = trio.current_time()
            assert await idle.closed_by_server()
            assert 0.2 < trio.current_time() - start < 2


async def test_expect_100_continue_sends_100_when_the_body_is_read() -> None:
    with trio.fail_after(5):
        async with running(echo) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(
                b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
                b"Connection: close\r\n\r\n"
            )
            assert await client.stream.receive_some(1000) == b"HTTP/1.1 100 Continue\r\n\r\n"
            await client.stream.send_all(b"body")
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.endswith(b'"size":4}')


async def test_expect_100_continue_refused_early_without_100() -> None:
    with trio.fail_after(5):
        async with running(echo, limits=Limits(max_body_bytes=1000)) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(
                b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
            )
            response = await client.raw_response()
            assert response.startswith(b"HTTP/1.1 413 ")
            assert b"100 Continue" not in response


async def test_graceful_shutdown_finishes_in_flight_request_and_closes_idle_ones() -> None:
    entered, release = trio.Event(), trio.Event()

    async def slow(request: Request) -> Response:
        if request.target == "/slow":
            entered.set()
            await release.wait()
        return json_response({"ok": True})

    with trio.fail_after(5):
        async with running(slow) as server:
            idle = await Client.connect(server.port)
            await idle.request("GET", "/quick")
            busy = await Client.connect(server.port)
            await busy.stream.send_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            await entered.wait()
            server.stop.set()
            assert await idle.closed_by_server()
            with pytest.raises(OSError):
                await trio.open_tcp_stream("127.0.0.1", server.port)
            assert not server.finished.is_set()
            release.set()
            raw = await busy.raw_response()
            assert raw.startswith(b"HTTP/1.1 200 ")
            assert b"connection: close" in raw
            await busy.stream.aclose()
            await server.finished.wait()


async def test_graceful_shutdown_is_bounded() -> None:
    async def stuck(request: Request) -> Response:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    with trio.fail_after(5):
        async with running(stuck, limits=SHORT) as server:
            client = await Client.connect(server.port)
            await client.stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
            server.stop.set()
            await server.finished.wait()
            assert 0.4 < trio.current_time() - start < 2
            assert await client.raw_response() == b""


async def test_connections_past_the_cap_wait_until_one_closes() -> None:
    """Two open connections at a cap of two: a third is not served (it waits in the listen backlog)
    until one of them closes; then it is, normally."""
    with trio.fail_after(5):
        async with running(echo, limits=Limits(max_connections=2)) as server:
            first = await Client.connect(server.port)
            second = await Client.connect(server.port)
            assert (await first.request("GET", "/1"))[0].status_code == 200
            assert (await second.request("GET", "/2"))[0].status_code == 200
            third = await Client.connect(server.port)
            await third.stream.send_all(b"GET /3 HTTP/1.1\r\nHost: t\r\n\r\n")
            with trio.move_on_after(0.3) as waited:
                await third.raw_response()
            assert waited.cancelled_caught  # not served while two are open
            await first.stream.aclose()
            response, body = await third.response()
            assert response.status_code == 200 and json.loads(body)["target"] == "/3"
