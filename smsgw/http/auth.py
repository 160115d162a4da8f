"""Request signing, CONTRACT §5: an API key id plus an HMAC-SHA256 over the request.

    X-Signature = hex(HMAC-SHA256(secret,
                  METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n"
                  + hex(SHA256(body))))

``sign`` makes the headers (CLI, tests, outgoing callbacks). ``RequestVerifier`` checks them in
two steps because the body hash is known only at the end of the body: ``begin`` checks what the
headers alone allow (presence, nonce length, timestamp window, key, an early replay look-up), the
returned ``PendingSignature.finish`` checks the HMAC once the body's SHA-256 is known, then records
the nonce and the admin requirement. For a streamed body that is after the last chunk, so a
streaming handler sees unverified data until its iteration ends (see docs/http.md).

PATH_WITH_QUERY is the request target exactly as sent (percent-encoding included): a client must
sign the bytes it puts on the request line.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from smsgw.http.errors import AuthError, HTTPError
from smsgw.http.types import Principal, Request

WINDOW_SECONDS = 300
"""How far X-Timestamp may be from the server clock, either way; also how long nonces are kept."""
MIN_NONCE_LENGTH = 16
MAX_TIMESTAMP_DIGITS = 12

KeyRecord = tuple[str | bytes, bool]
"""What a key lookup returns for a known key id: (secret, is_admin)."""
KeyLookup = Callable[[str], KeyRecord | Awaitable[KeyRecord | None] | None]

_AUTH_HEADERS = ("X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature")
_AUTH_KEYS = tuple((name, name.lower()) for name in _AUTH_HEADERS)  # as named, as looked up
_CHALLENGE = (("www-authenticate", 'SMSGW-HMAC-SHA256 realm="smsgw"'),)


def body_digest(body: bytes) -> str:
    """hex(SHA256(body)), the last line of the string to sign."""
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path_with_query: str, timestamp: str, nonce: str, body_sha256: str) -> bytes:
    """The exact bytes the HMAC covers."""
    return f"{method.upper()}\n{path_with_query}\n{timestamp}\n{nonce}\n{body_sha256}".encode()


def signature(secret: str | bytes, message: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``message`` under ``secret`` (a str secret is UTF-8)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(
    secret: str | bytes,
    method: str,
    path_with_query: str,
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
    *,
    key_id: str | None = None,
) -> dict[str, str]:
    """The signing headers for one request; ``timestamp`` defaults to now, ``nonce`` to 32 random
    hex characters. ``X-Api-Key`` is included when ``key_id`` is given (callbacks carry none)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16) if nonce is None else nonce
    headers = {} if key_id is None else {"X-Api-Key": key_id}
    headers |= {
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": signature(
            secret, string_to_sign(method, path_with_query, ts, nonce, body_digest(body))
        ),
    }
    return headers


class NonceCache:
    """(key id, nonce) pairs seen while their timestamp is still inside the window.

    A pair is kept until its own timestamp goes stale (``timestamp + window``): any later replay
    is refused as stale anyway. Pairs are stored as 16-byte digests, so a long nonce costs no more
    than a short one; ``capacity`` bounds memory (~100 bytes a pair) and, once reached, new
    requests are refused with 503 until old pairs expire.
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        if capacity <= 0:
            raise ValueError(f"NonceCache capacity must be positive, not {capacity}")
        self.capacity = capacity
        self._expiry: dict[bytes, int] = {}
        self._by_second: dict[int, list[bytes]] = {}
        self._purged_until: int | None = None

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, key_id: str, nonce: str, now: int) -> bool:
        return self.seen_pair(pair_digest(key_id, nonce), now)

    def seen_pair(self, pair: bytes, now: int) -> bool:
        """``seen`` of a ``pair_digest`` (a request computes it once for the look-up and the record)."""
        self._purge(now)
        return pair in self._expiry

    def add(self, key_id: str, nonce: str, expires: int, now: int) -> None:
        """Record a pair; ``AuthError`` if it is already there, ``HTTPError`` 503 when full."""
        self.add_pair(pair_digest(key_id, nonce), expires, now)

    def add_pair(self, pair: bytes, expires: int, now: int) -> None:
        """``add`` of a ``pair_digest``."""
        self._purge(now)
        if pair in self._expiry:
            raise _replayed()
        if expires < now:
            return  # already stale: a replay is refused by the timestamp check
        if len(self._expiry) >= self.capacity:
            raise HTTPError(
                503, "replay_cache_full",
                f"more than {self.capacity} signed requests within {WINDOW_SECONDS} s; retry shortly",
                headers=(("retry-after", "1"),),
            )
        self._expiry[pair] = expires
        self._by_second.setdefault(expires, []).append(pair)

    def _purge(self, now: int) -> None:
        """Forget pairs that expired before ``now``: walk the seconds elapsed since the last purge."""
        start = self._purged_until
        if start == now:
            return  # nothing can have expired since
        if start is None or now - start > 3 * WINDOW_SECONDS:
            # First use or a long quiet gap: sweep what is there instead of every elapsed second.
            seconds = [s for s in self._by_second if s < now]
        else:
            seconds = [s for s in range(start, now) if s in self._by_second]
        for second in seconds:
            for pair in self._by_second.pop(second):
                if self._expiry.get(pair) == second:
                    del self._expiry[pair]
        self._purged_until = now if start is None else max(now, start)


def pair_digest(key_id: str, nonce: str) -> bytes:
    """The 16 bytes ``NonceCache`` keeps for a (key id, nonce) pair."""
    return hashlib.blake2b(f"{key_id}\n{nonce}".encode(), digest_size=16).digest()


@dataclass(slots=True)
class PendingSignature:
    """Headers that passed every check but the HMAC, which needs the body's SHA-256."""

    verifier: RequestVerifier
    key_id: str
    secret: str | bytes
    is_admin: bool
    admin_required: bool
    method: str
    target: str
    timestamp: int
    timestamp_text: str
    nonce: str
    claimed: str
    pair: bytes  # pair_digest(key_id, nonce)

    def finish(self, body_sha256: str) -> Principal:
        """Check the signature, record the nonce, check admin; the verified key or ``AuthError``."""
        message = string_to_sign(self.method, self.target, self.timestamp_text, self.nonce, body_sha256)
        key = self.secret.encode() if isinstance(self.secret, str) else self.secret
        expected = hmac.digest(key, message, "sha256").hex()  # == signature(secret, message)
        if not hmac.compare_digest(expected.encode(), self.claimed.lower().encode()):
            raise _unauthorized(
                "bad_signature",
                "X-Signature does not match: sign METHOD, PATH_WITH_QUERY, X-Timestamp, X-Nonce and"
                " hex(SHA256(body)), newline-separated, with HMAC-SHA256 under the key's secret",
                "X-Signature",
            )
        now = int(self.verifier.clock())
        self.verifier.nonces.add_pair(self.pair, self.timestamp + WINDOW_SECONDS, now)
        if self.admin_required and not self.is_admin:
            raise AuthError(403, "admin_required", "this route needs an admin API key")
        return Principal(self.key_id, self.is_admin)


class RequestVerifier:
    """Checks CONTRACT §5 signatures against keys from ``lookup`` (sync or async: key id →
    ``(secret, is_admin)`` or ``None``) and the time from ``clock`` (unix seconds)."""

    def __init__(
        self,
        lookup: KeyLookup,
        clock: Callable[[], float] = time.time,
        *,
        nonces: NonceCache | None = None,
    ) -> None:
        self.lookup = lookup
        self.clock = clock
        self.nonces = nonces if nonces is not None else NonceCache()

    async def begin(self, request: Request, *, admin: bool = False) -> PendingSignature:
        """Every check the headers allow; ``AuthError`` on the first that fails."""
        values = []
        for name, lookup in _AUTH_KEYS:
            value = request.headers.get(lookup)
            if not value:
                raise _unauthorized("missing_auth", f"the {name} header is required", name)
            values.append(value)
        key_id, timestamp_text, nonce, claimed = values
        if len(nonce) < MIN_NONCE_LENGTH:
            raise _unauthorized(
                "bad_nonce", f"X-Nonce must be at least {MIN_NONCE_LENGTH} characters, not {len(nonce)}",
                "X-Nonce",
            )
        well_formed = timestamp_text.isascii() and timestamp_text.isdigit()
        if not well_formed or len(timestamp_text) > MAX_TIMESTAMP_DIGITS:
            raise _unauthorized(
                "bad_timestamp", "X-Timestamp must be unix time in whole seconds", "X-Timestamp"
            )
        timestamp = int(timestamp_text)
        now = int(self.clock())
        if abs(now - timestamp) > WINDOW_SECONDS:
            raise _unauthorized(
                "stale_timestamp",
                f"X-Timestamp {timestamp} is {abs(now - timestamp)} s from the server time {now};"
                f" at most {WINDOW_SECONDS} s is allowed",
                "X-Timestamp",
            )
        record = self.lookup(key_id)
        if inspect.isawaitable(record):
            record = await record
        if record is None:
            raise _unauthorized("unknown_key", f"API key {key_id!r} is unknown", "X-Api-Key")
        pair = pair_digest(key_id, nonce)
        if self.nonces.seen_pair(pair, now):
            raise _replayed()
        secret, is_admin = record
        return PendingSignature(
            self, key_id, secret, is_admin, admin, request.method, request.target,
            timestamp, timestamp_text, nonce, claimed, pair,
        )

    async def verify(self, request: Request, *, admin: bool = False) -> Principal:
        """``begin`` and ``finish`` for a request whose body has been read."""
        pending = await self.begin(request, admin=admin)
        return pending.finish(body_digest(request.body))


def _unauthorized(code: str, message: str, field: str) -> AuthError:
    return AuthError(401, code, message, field, _CHALLENGE)


def _replayed() -> AuthError:
    return _unauthorized(
        "replayed_nonce", f"X-Nonce was already used within the last {WINDOW_SECONDS} s", "X-Nonce"
    )
