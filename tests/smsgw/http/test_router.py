"""Routing, path parameters, 404/405, auth enforcement per route and the OpenAPI document."""

from __future__ import annotations

import hashlib
import json

import pytest

from smsgw.http.auth import NonceCache, RequestVerifier, sign
from smsgw.http.errors import AuthError, HTTPError
from smsgw.http.router import ResponseSpec, Router
from smsgw.http.types import Principal, Request, Response, json_response
from tests.smsgw.http.support import make_request

NOW = 1_700_000_000
KEYS = {"k1": ("s3cret", False), "adm": ("root", True)}


async def echo(request: Request) -> Response:
    return json_response({"route": request.method, "params": request.path_params})


def router() -> Router:
    r = Router(RequestVerifier(KEYS.get, lambda: NOW, nonces=NonceCache(100)))
    r.add("GET", "/v1/batches/{id}", echo, summary="batch progress", auth="key")
    r.add("POST", "/v1/batches/import", echo, summary="import", operation_id="import_batch")
    r.add("GET", "/v1/batches/{id}/recipients", echo, summary="recipients", auth="key",
          query={"status": {"enum": ["delivered", "failed", "rejected", "pending"]}},
          responses={200: ResponseSpec({"type": "string"}, "CSV", "text/csv")})
    r.add("POST", "/v1/messages", echo, summary="submit", auth="key",
          request_schema={"type": "object", "required": ["to"]},
          responses={202: {"type": "object", "required": ["id"]}})
    r.add("POST", "/v1/templates/{id}/approve", echo, summary="approve", auth="admin")
    r.add("GET", "/healthz", echo, summary="health")
    return r


def test_static_segment_wins_over_parameter() -> None:
    r = router()
    route, params = r.resolve("POST", "/v1/batches/import")
    assert (route.summary, params) == ("import", {})
    route, params = r.resolve("GET", "/v1/batches/import")
    assert (route.summary, params) == ("batch progress", {"id": "import"})


def test_parameters_are_percent_decoded_and_never_empty() -> None:
    r = router()
    assert r.resolve("GET", "/v1/batches/a%2Fb/recipients")[1] == {"id": "a/b"}
    with pytest.raises(HTTPError) as caught:
        r.resolve("GET", "/v1/batches/")
    assert caught.value.status == 404


def test_unknown_path_is_404() -> None:
    with pytest.raises(HTTPError) as caught:
        router().resolve("GET", "/v2/nothing")
    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_wrong_method_is_405_with_allow() -> None:
    with pytest.raises(HTTPError) as caught:
        router().resolve("DELETE", "/v1/batches/import")
    assert (caught.value.status, caught.value.code) == (405, "method_not_allowed")
    assert caught.value.headers == (("allow", "GET, POST"),)


@pytest.mark.parametrize(
    ("method", "pattern", "message"),
    [
        ("GET", "/healthz", "already routed"),
        ("GET", "/v1/batches/{batch}", "clashes"),
        ("GET", "v1/x", "must start with /"),
        ("GET", "/v1/x{id}", "whole segment"),
        ("GET", "/v1/{id}/{id}", "twice"),
        ("get", "/v1/x", "upper-case"),
        ("PUT", "/v1/batches/{id}/recipients", None),
    ],
)
def test_add_validates(method: str, pattern: str, message: str | None) -> None:
    r = router()
    if message is None:
        r.add(method, pattern, echo, summary="fine")
        return
    with pytest.raises(ValueError, match=message):
        r.add(method, pattern, echo, summary="x")


def test_auth_route_needs_a_verifier() -> None:
    with pytest.raises(ValueError, match="no verifier"):
        Router().add("GET", "/v1/x", echo, summary="x", auth="key")


def signed(method: str, target: str, body: bytes = b"", key: str = "k1", nonce: str = "n" * 16) -> Request:
    secret = KEYS[key][0]
    headers = {k.lower(): v for k, v in sign(secret, method, target, body, NOW, nonce, key_id=key).items()}
    return make_request(method, target, headers, chunks=(body,) if body else ())


async def test_route_without_auth_needs_no_headers() -> None:
    response = await router()(make_request("GET", "/healthz"))
    assert response.status == 200


async def test_auth_route_refuses_unsigned() -> None:
    with pytest.raises(AuthError) as caught:
        await router()(make_request("GET", "/v1/batches/1"))
    assert caught.value.code == "missing_auth"


async def test_signed_request_reaches_handler_with_principal() -> None:
    seen: list[object] = []

    async def handler(request: Request) -> Response:
        seen.append((request.principal, request.body))
        return json_response({}, 202)

    r = Router(RequestVerifier(KEYS.get, lambda: NOW))
    r.add("POST", "/v1/messages", handler, summary="submit", auth="key")
    response = await r(signed("POST", "/v1/messages", b'{"to":"1"}'))
    assert response.status == 202
    assert seen == [(Principal("k1", False), b'{"to":"1"}')]


async def test_admin_route_refuses_plain_key_and_accepts_admin() -> None:
    r = router()
    with pytest.raises(AuthError) as caught:
        await r(signed("POST", "/v1/templates/t1/approve"))
    assert (caught.value.status, caught.value.code) == (403, "admin_required")
    response = await r(signed("POST", "/v1/templates/t1/approve", key="adm"))
    assert response.status == 200


async def test_streaming_route_refused_at_end_even_if_handler_swallows_the_error() -> None:
    committed: list[bytes] = []

    async def upload(request: Request) -> Response:
        rows = []
        try:
            async for chunk in request.stream():
                rows.append(chunk)
        except AuthError:
            return json_response({"swallowed": True})
        committed.extend(rows)
        return json_response({}, 202)

    r = Router(RequestVerifier(KEYS.get, lambda: NOW))
    r.add("POST", "/v1/batches", upload, summary="upload", auth="key", streaming=True)
    request = signed("POST", "/v1/batches", b"to\n1\n2\n")
    request = make_request("POST", "/v1/batches", request.headers, chunks=(b"to\n1\n", b"9\n"))
    with pytest.raises(AuthError) as caught:
        await r(request)
    assert caught.value.code == "bad_signature"
    assert committed == []


async def test_streaming_route_checks_what_the_handler_left_unread() -> None:
    async def ignores_body(request: Request) -> Response:
        return json_response({}, 202)

    r = Router(RequestVerifier(KEYS.get, lambda: NOW))
    r.add("POST", "/v1/batches", ignores_body, summary="upload", auth="key", streaming=True)
    good = signed("POST", "/v1/batches", b"to\n1\n")
    assert (await r(good)).status == 202
    bad = signed("POST", "/v1/batches", b"to\n1\n", nonce="m" * 16)
    bad = make_request("POST", "/v1/batches", bad.headers, chunks=(b"to\n2\n",))
    with pytest.raises(AuthError):
        await r(bad)


def _declaring(body: bytes, declared: str | None = None, *, secret_body: bytes | None = None,
               chunks: tuple[bytes, ...] | None = None, nonce: str = "n" * 16) -> Request:
    """A streamed upload with X-Content-SHA256 (the hash of ``declared`` or of the signed body)."""
    signed_body = body if secret_body is None else secret_body
    headers = dict(signed("POST", "/v1/batches", signed_body, nonce=nonce).headers)
    headers["x-content-sha256"] = declared if declared is not None else hashlib.sha256(signed_body).hexdigest()
    return make_request("POST", "/v1/batches", headers, chunks=chunks if chunks is not None else (body,))


async def test_declared_body_hash_checks_the_signature_before_the_handler_reads() -> None:
    seen: list[tuple[object, bytes]] = []

    async def upload(request: Request) -> Response:
        principal = request.principal  # known before a byte is read
        data = b"".join([chunk async for chunk in request.stream()])
        seen.append((principal, data))
        return json_response({}, 202)

    r = Router(RequestVerifier(KEYS.get, lambda: NOW))
    r.add("POST", "/v1/batches", upload, summary="upload", auth="key", streaming=True)
    assert (await r(_declaring(b"to\n1\n"))).status == 202
    assert seen == [(Principal("k1", False), b"to\n1\n")]
    # a forged signature (here: over another body than the declared one) is refused before the handler runs
    with pytest.raises(AuthError) as caught:
        await r(_declaring(b"to\n2\n", hashlib.sha256(b"to\n2\n").hexdigest(), secret_body=b"other",
                           nonce="a" * 16))
    assert caught.value.code == "bad_signature" and len(seen) == 1
    # signed and declared right, but another body arrives: refused after the last chunk
    with pytest.raises(AuthError) as caught:
        await r(_declaring(b"to\n1\n", chunks=(b"to\n9\n",), nonce="b" * 16))
    assert caught.value.code == "body_mismatch"
    with pytest.raises(AuthError) as caught:
        await r(_declaring(b"to\n1\n", "not-a-hash", nonce="c" * 16))
    assert caught.value.code == "bad_content_sha256"


def test_openapi_lists_every_route_with_its_declarations() -> None:
    r = router()
    r.add_openapi_route("smsgw", "0.1.0")
    doc = r.openapi("smsgw", "0.1.0")
    json.dumps(doc)  # serialisable as is
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "smsgw", "version": "0.1.0"}
    listed = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert listed == {(route.method, route.pattern) for route in r.routes}
    assert ("GET", "/openapi.json") in listed

    batch = doc["paths"]["/v1/batches/{id}/recipients"]["get"]
    assert batch["security"] == [{"signedKey": []}]
    assert {p["name"]: p["in"] for p in batch["parameters"]} == {"id": "path", "status": "query"}
    assert batch["responses"]["200"]["content"]["text/csv"]["schema"] == {"type": "string"}
    assert batch["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }

    submit = doc["paths"]["/v1/messages"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["required"] == ["to"]
    assert submit["responses"]["202"]["description"] == "Accepted"

    approve = doc["paths"]["/v1/templates/{id}/approve"]["post"]
    assert approve["x-admin-required"] is True
    assert "403" in approve["responses"]

    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/v1/batches/import"]["post"]["operationId"] == "import_batch"
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert "X-Signature" in doc["components"]["securitySchemes"]["signedKey"]["description"]


def test_duplicate_operation_id_refused() -> None:
    r = router()
    with pytest.raises(ValueError, match="operation id"):
        r.add("GET", "/other", echo, summary="x", operation_id="import_batch")
