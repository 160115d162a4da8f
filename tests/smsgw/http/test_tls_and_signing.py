"""TLS with a trustme certificate, and signed requests from httpx through the router."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import trio
import trustme

from smsgw.http.auth import RequestVerifier, sign
from smsgw.http.router import Router
from smsgw.http.types import Request, Response, json_response
from tests.smsgw.http.support import Client, running

KEYS = {"k1": ("s3cret", False)}


async def echo(request: Request) -> Response:
    body = await request.read()
    return json_response({"target": request.target, "size": len(body)})


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_tls_keep_alive_with_a_trusted_certificate() -> None:
    server_ctx, client_ctx = tls_contexts()
    with trio.fail_after(10):
        async with running(echo, ssl_context=server_ctx) as server:
            async with httpx.AsyncClient(verify=client_ctx) as client:
                url = f"https://127.0.0.1:{server.port}/tls?x=1"
                first = await client.post(url, content=b"abc")
                second = await client.post(url, content=b"abcdef")
            assert (first.status_code, first.json()) == (200, {"target": "/tls?x=1", "size": 3})
            assert second.json()["size"] == 6


async def test_plain_text_client_on_a_tls_port_is_dropped_and_server_carries_on() -> None:
    server_ctx, client_ctx = tls_contexts()
    with trio.fail_after(10):
        async with running(echo, ssl_context=server_ctx) as server:
            plain = await Client.connect(server.port)
            await plain.stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert await plain.closed_by_server()
            async with httpx.AsyncClient(verify=client_ctx) as client:
                response = await client.get(f"https://127.0.0.1:{server.port}/")
            assert response.status_code == 200


def signed_router() -> tuple[Router, list[bytes]]:
    committed: list[bytes] = []

    async def whoami(request: Request) -> Response:
        assert request.principal is not None
        return json_response({"key": request.principal.key_id, "query": request.query})

    async def upload(request: Request) -> Response:
        rows = [chunk async for chunk in request.stream()]
        committed.append(b"".join(rows))
        return json_response({"size": len(committed[-1])}, 202)

    router = Router(RequestVerifier(KEYS.get))
    router.add("POST", "/v1/whoami", whoami, summary="who am I", auth="key")
    router.add("POST", "/v1/upload", upload, summary="upload", auth="key", streaming=True)
    return router, committed


async def send_signed(
    client: httpx.AsyncClient, url: str, body: bytes, content: bytes | AsyncIterator[bytes] | None = None
) -> httpx.Response:
    request = client.build_request("POST", url, content=body if content is None else content)
    # Sign the target exactly as httpx puts it on the request line.
    request.headers.update(sign("s3cret", "POST", request.url.raw_path.decode(), body, key_id="k1"))
    return await client.send(request)


async def test_signed_request_over_the_wire() -> None:
    router, _ = signed_router()
    with trio.fail_after(10):
        async with running(router) as server, httpx.AsyncClient() as client:
            ok = await send_signed(client, f"{server.url}/v1/whoami?to=8613800138000&name=a b", b"{}")
            assert (ok.status_code, ok.json()) == (200, {"key": "k1", "query": {"to": "8613800138000", "name": "a b"}})
            unsigned = await client.post(f"{server.url}/v1/whoami", content=b"{}")
            assert unsigned.status_code == 401
            assert unsigned.json() == {
                "error": {"code": "missing_auth", "message": "the X-Api-Key header is required", "field": "X-Api-Key"}
            }
            assert unsigned.headers["www-authenticate"].startswith("SMSGW-HMAC-SHA256")


async def test_replayed_request_over_the_wire_is_refused() -> None:
    router, _ = signed_router()
    with trio.fail_after(10):
        async with running(router) as server, httpx.AsyncClient() as client:
            request = client.build_request("POST", f"{server.url}/v1/whoami", content=b"{}")
            request.headers.update(sign("s3cret", "POST", "/v1/whoami", b"{}", key_id="k1"))
            assert (await client.send(request)).status_code == 200
            again = client.build_request("POST", f"{server.url}/v1/whoami", content=b"{}")
            signing = ("x-api-key", "x-timestamp", "x-nonce", "x-signature")
            again.headers.update({name: request.headers[name] for name in signing})
            replay = await client.send(again)
            assert (replay.status_code, replay.json()["error"]["code"]) == (401, "replayed_nonce")


async def test_signed_streaming_upload_verified_at_the_end() -> None:
    router, committed = signed_router()
    payload = b"to,code\n" + b"13800138000,1234\n" * 50_000

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100_000):
            yield data[start : start + 100_000]

    with trio.fail_after(10):
        async with running(router) as server, httpx.AsyncClient() as client:
            url = f"{server.url}/v1/upload"
            ok = await send_signed(client, url, payload, chunks(payload))
            assert (ok.status_code, ok.json()) == (202, {"size": len(payload)})
            tampered = await send_signed(client, url, payload, chunks(payload[:-2] + b"9\n"))
            assert (tampered.status_code, tampered.json()["error"]["code"]) == (401, "bad_signature")
    assert committed == [payload]  # the handler of the tampered upload never got past its loop
