"""Request parsing and body consumption, response helpers; no network."""

from __future__ import annotations

import hashlib
import json

import pytest

from smsgw.http.errors import HTTPError
from smsgw.http.types import error_response, json_response
from tests.smsgw.http.support import make_request


def test_target_split_into_path_and_query() -> None:
    request = make_request("GET", "/v1/reports%20x?after=abc&limit=10&empty=")
    assert request.target == "/v1/reports%20x?after=abc&limit=10&empty="
    assert request.raw_path == "/v1/reports%20x"
    assert request.path == "/v1/reports x"
    assert request.query == {"after": "abc", "limit": "10", "empty": ""}


def test_repeated_query_parameter_refused() -> None:
    with pytest.raises(HTTPError) as caught:
        make_request("GET", "/v1/reports?limit=1&limit=2")
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, "repeated_query_parameter", "limit")


def test_absolute_form_target_refused() -> None:
    with pytest.raises(HTTPError) as caught:
        make_request("GET", "http://example.com/v1")
    assert (caught.value.status, caught.value.code) == (400, "bad_target")


def test_body_before_read_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="not read"):
        _ = make_request().body


async def test_read_joins_chunks() -> None:
    request = make_request("POST", "/", chunks=(b"ab", b"cd"))
    assert await request.read() == b"abcd"
    assert request.body == b"abcd"


async def test_read_refuses_declared_length_over_limit_without_reading() -> None:
    request = make_request("POST", "/", {"content-length": "2000"}, chunks=(b"x",), max_body=1000)
    with pytest.raises(HTTPError) as caught:
        await request.read()
    assert (caught.value.status, caught.value.code) == (413, "body_too_large")
    with pytest.raises(RuntimeError, match="not read"):
        _ = request.body


async def test_read_refuses_chunked_body_growing_over_limit() -> None:
    request = make_request("POST", "/", chunks=(b"x" * 600, b"x" * 600), max_body=1000)
    with pytest.raises(HTTPError) as caught:
        await request.read()
    assert caught.value.status == 413


async def test_stream_is_unlimited_and_single_use() -> None:
    request = make_request("POST", "/", chunks=(b"x" * 800, b"y" * 800), max_body=1000)
    assert [len(chunk) async for chunk in request.stream()] == [800, 800]
    with pytest.raises(RuntimeError, match="only once"):
        await request.read()


async def test_body_check_gets_sha256_after_last_chunk() -> None:
    request = make_request("POST", "/", chunks=(b"ab", b"cd"))
    seen: list[str] = []
    request.set_body_check(seen.append)
    stream = request.stream()
    assert await stream.__anext__() == b"ab"
    assert await stream.__anext__() == b"cd"
    assert seen == []
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert seen == [hashlib.sha256(b"abcd").hexdigest()]


async def test_drain_finishes_an_abandoned_stream_and_runs_the_check() -> None:
    request = make_request("POST", "/", chunks=(b"ab", b"cd", b"ef"))
    seen: list[str] = []
    request.set_body_check(seen.append)
    async for _ in request.stream():
        break
    await request.drain()
    assert seen == [hashlib.sha256(b"abcdef").hexdigest()]


def test_json_response_is_compact_utf8() -> None:
    response = json_response({"text": "您好"}, 202)
    assert response.status == 202
    assert ("content-type", "application/json") in response.headers
    assert response.body == '{"text":"您好"}'.encode()


def test_error_response_shape() -> None:
    with_field = error_response(400, "bad_number", "to is not a phone number", "to")
    assert isinstance(with_field.body, bytes)
    assert json.loads(with_field.body) == {
        "error": {"code": "bad_number", "message": "to is not a phone number", "field": "to"}
    }
    without = error_response(404, "not_found", "no such message")
    assert isinstance(without.body, bytes)
    assert json.loads(without.body) == {"error": {"code": "not_found", "message": "no such message"}}


def test_http_error_status_must_be_an_error() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        HTTPError(200, "ok", "fine")
