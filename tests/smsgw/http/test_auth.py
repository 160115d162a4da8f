"""CONTRACT §5 signing: the string to sign, every refusal code, the time window and replays."""

from __future__ import annotations

import pytest

from smsgw.http.auth import NonceCache, RequestVerifier, body_digest, sign, string_to_sign
from smsgw.http.errors import AuthError, HTTPError
from smsgw.http.types import Principal, Request
from tests.smsgw.http.support import make_request

NOW = 1_700_000_000
KEYS: dict[str, tuple[str | bytes, bool]] = {"k1": ("s3cret", False), "admin1": (b"adm1n", True)}
BODY = b'{"to":"13800138000","text":"hi"}'
NONCE = "0123456789abcdef"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lookup(key_id: str) -> tuple[str | bytes, bool] | None:
    return KEYS.get(key_id)


def verifier(clock: Clock | None = None, capacity: int = 1000) -> RequestVerifier:
    return RequestVerifier(lookup, clock or Clock(), nonces=NonceCache(capacity))


def signed(
    method: str = "POST",
    target: str = "/v1/messages",
    body: bytes = BODY,
    key_id: str = "k1",
    secret: str | bytes = "s3cret",
    timestamp: int = NOW,
    nonce: str = NONCE,
) -> Request:
    headers = {k.lower(): v for k, v in sign(secret, method, target, body, timestamp, nonce, key_id=key_id).items()}
    request = make_request(method, target, headers, chunks=(body,) if body else ())
    return request


async def verified(request: Request, v: RequestVerifier, admin: bool = False) -> Principal:
    await request.read()
    return await v.verify(request, admin=admin)


async def refusal(request: Request, v: RequestVerifier, admin: bool = False) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await verified(request, v, admin)
    return caught.value


def test_string_to_sign_is_exactly_the_contract_lines() -> None:
    digest = "794869975be57bf8ad0ab0a5bd06cb1420175130dc051cd7d469cce1fcbe15fa"
    assert body_digest(BODY) == digest
    assert string_to_sign("post", "/v1/messages?client_ref=a%20b", "1700000000", NONCE, digest) == (
        b"POST\n/v1/messages?client_ref=a%20b\n1700000000\n0123456789abcdef\n" + digest.encode()
    )


def test_sign_matches_a_vector_computed_with_openssl() -> None:
    # printf 'POST\n/v1/messages?client_ref=a%20b\n1700000000\n0123456789abcdef\n<sha256 of BODY>' \
    #   | openssl dgst -sha256 -hmac s3cret
    headers = sign("s3cret", "POST", "/v1/messages?client_ref=a%20b", BODY, 1_700_000_000, NONCE, key_id="k1")
    assert headers == {
        "X-Api-Key": "k1",
        "X-Timestamp": "1700000000",
        "X-Nonce": NONCE,
        "X-Signature": "91b63b2cae28d0b0bcbbd9921c0575dde5def5026186e5dec2828129670f40a5",
    }


def test_sign_defaults_to_now_and_a_fresh_nonce_and_omits_the_key_for_callbacks() -> None:
    first = sign("s", "POST", "/cb", b"{}")
    second = sign("s", "POST", "/cb", b"{}")
    assert "X-Api-Key" not in first
    assert len(first["X-Nonce"]) >= 16
    assert first["X-Nonce"] != second["X-Nonce"]
    assert first["X-Timestamp"].isdigit()


async def test_correct_signature_accepted() -> None:
    assert await verified(signed(), verifier()) == Principal("k1", False)


async def test_uppercase_hex_signature_accepted() -> None:
    request = signed()
    request.headers["x-signature"] = request.headers["x-signature"].upper()
    assert await verified(request, verifier()) == Principal("k1", False)


async def test_async_key_lookup() -> None:
    async def lookup(key_id: str) -> tuple[str, bool] | None:
        return ("s3cret", False) if key_id == "k1" else None

    v = RequestVerifier(lookup, Clock())
    assert await verified(signed(), v) == Principal("k1", False)


@pytest.mark.parametrize("missing", ["X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature"])
async def test_missing_header_named(missing: str) -> None:
    request = signed()
    del request.headers[missing.lower()]
    error = await refusal(request, verifier())
    assert (error.status, error.code, error.field) == (401, "missing_auth", missing)
    assert missing in error.message
    assert ("www-authenticate", 'SMSGW-HMAC-SHA256 realm="smsgw"') in error.headers


async def test_unknown_key() -> None:
    error = await refusal(signed(key_id="nobody"), verifier())
    assert (error.status, error.code, error.field) == (401, "unknown_key", "X-Api-Key")


@pytest.mark.parametrize(
    "tamper",
    [
        {"secret": "wrong"},
        {"body": BODY + b" "},
    ],
)
async def test_bad_signature_on_wrong_secret_or_body(tamper: dict[str, object]) -> None:
    good = signed()
    request = signed(**tamper)  # type: ignore[arg-type]
    request.headers["x-signature"] = (
        request.headers["x-signature"] if "secret" in tamper else good.headers["x-signature"]
    )
    error = await refusal(request, verifier())
    assert (error.status, error.code) == (401, "bad_signature")


@pytest.mark.parametrize("field", ["method", "target", "x-timestamp", "x-nonce"])
async def test_bad_signature_when_a_signed_part_changes(field: str) -> None:
    original = signed()
    changed = {
        "method": signed(method="PUT"),
        "target": signed(target="/v1/messages?x=1"),
        "x-timestamp": signed(timestamp=NOW + 1),
        "x-nonce": signed(nonce=NONCE + "x"),
    }[field]
    changed.headers["x-signature"] = original.headers["x-signature"]
    error = await refusal(changed, verifier())
    assert error.code == "bad_signature"


async def test_non_hex_signature_is_bad_signature() -> None:
    request = signed()
    request.headers["x-signature"] = "zz\u00e9" * 10
    assert (await refusal(request, verifier())).code == "bad_signature"


async def test_short_nonce() -> None:
    error = await refusal(signed(nonce="x" * 15), verifier())
    assert (error.status, error.code, error.field) == (401, "bad_nonce", "X-Nonce")


@pytest.mark.parametrize("offset", [-300, 300, 0])
async def test_timestamp_within_300_s_accepted(offset: int) -> None:
    assert await verified(signed(timestamp=NOW + offset), verifier()) == Principal("k1", False)


@pytest.mark.parametrize("offset", [-301, 301])
async def test_timestamp_301_s_away_refused_naming_server_time(offset: int) -> None:
    error = await refusal(signed(timestamp=NOW + offset), verifier())
    assert (error.status, error.code, error.field) == (401, "stale_timestamp", "X-Timestamp")
    assert str(NOW) in error.message
    assert "301 s" in error.message


@pytest.mark.parametrize("value", ["17e8", "-1700000000", "1700000000.5", "\u00b9\u00b2", "9" * 13])
async def test_malformed_timestamp(value: str) -> None:
    request = signed()
    request.headers["x-timestamp"] = value
    assert (await refusal(request, verifier())).code == "bad_timestamp"


async def test_replayed_nonce_refused() -> None:
    v = verifier()
    await verified(signed(), v)
    error = await refusal(signed(), v)
    assert (error.status, error.code, error.field) == (401, "replayed_nonce", "X-Nonce")


async def test_same_nonce_from_another_key_is_not_a_replay() -> None:
    v = verifier()
    await verified(signed(), v)
    assert await verified(signed(key_id="admin1", secret=b"adm1n"), v) == Principal("admin1", True)


async def test_nonce_of_a_refused_request_is_not_burnt() -> None:
    v = verifier()
    await refusal(signed(secret="wrong"), v)
    assert await verified(signed(), v) == Principal("k1", False)


async def test_nonce_forgotten_once_its_timestamp_is_stale() -> None:
    clock = Clock()
    v = verifier(clock)
    await verified(signed(), v)
    clock.now = NOW + 300
    assert (await refusal(signed(), v)).code == "replayed_nonce"
    clock.now = NOW + 301
    assert (await refusal(signed(), v)).code == "stale_timestamp"
    assert not v.nonces.seen("k1", NONCE, NOW + 301)
    assert len(v.nonces) == 0


async def test_nonce_cache_capacity_refuses_with_503() -> None:
    v = verifier(capacity=2)
    await verified(signed(nonce="a" * 16), v)
    await verified(signed(nonce="b" * 16), v)
    request = signed(nonce="c" * 16)
    await request.read()
    with pytest.raises(HTTPError) as caught:
        await v.verify(request)
    assert (caught.value.status, caught.value.code) == (503, "replay_cache_full")


async def test_admin_required_for_a_plain_key() -> None:
    error = await refusal(signed(), verifier(), admin=True)
    assert (error.status, error.code) == (403, "admin_required")


async def test_admin_key_accepted_on_admin_route() -> None:
    principal = await verified(signed(key_id="admin1", secret=b"adm1n"), verifier(), admin=True)
    assert principal == Principal("admin1", True)


async def test_streamed_body_verified_after_the_last_chunk() -> None:
    v = verifier()
    headers = {k.lower(): val for k, val in sign("s3cret", "POST", "/up", b"abcdef", NOW, NONCE, key_id="k1").items()}
    request = make_request("POST", "/up", headers, chunks=(b"abc", b"def"))
    pending = await v.begin(request)
    principals: list[Principal] = []
    request.set_body_check(lambda digest: principals.append(pending.finish(digest)))
    assert b"".join([chunk async for chunk in request.stream()]) == b"abcdef"
    assert principals == [Principal("k1", False)]


async def test_streamed_body_with_wrong_content_fails_at_the_end() -> None:
    v = verifier()
    headers = {k.lower(): val for k, val in sign("s3cret", "POST", "/up", b"abcdef", NOW, NONCE, key_id="k1").items()}
    request = make_request("POST", "/up", headers, chunks=(b"abc", b"XYZ"))
    pending = await v.begin(request)
    request.set_body_check(pending.finish)
    received = []
    with pytest.raises(AuthError) as caught:
        async for chunk in request.stream():
            received.append(chunk)
    assert received == [b"abc", b"XYZ"]
    assert caught.value.code == "bad_signature"


def test_nonce_cache_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        NonceCache(0)
