"""The callback sender: works through the ``callbacks`` outbox (CONTRACT §5 "Callbacks").

The dispatcher appends an outbox row in the same transaction as the final status (a report
callback, for a message submitted with ``callback_url``) or the stored MO (an MO callback,
when ``[gateway].mo_callback_url`` is set). This module only delivers them:

* one task pages due rows (``state = 'pending' AND next_attempt_at <= now``, oldest due first)
  and starts one POST per row, at most ``concurrency`` at a time; a row is never sent twice
  at once (ids in flight are skipped until their outcome is committed);
* the body is the stored payload as is (for a report, the item of ``GET /v1/reports``);
  headers ``X-Timestamp``, ``X-Nonce`` and ``X-Signature`` (``smsgw.http.auth.sign`` without a
  key id, so the signed path is the callback URL's own path and query) under the secret of
  the key that submitted the message. MO callbacks belong to no key: they are signed the same
  way with ``[gateway].mo_callback_secret``; without one they carry ``X-Timestamp`` and
  ``X-Nonce`` but no signature.
  ``X-Callback-Id`` and ``X-Callback-Kind`` (``report`` / ``mo``) help receivers deduplicate;
* a 2xx answer marks the row ``delivered`` (``next_attempt_at`` then records when); anything
  else (other status, connection error, timeout) counts an attempt and schedules the next one
  after ``schedule[attempts - 1]`` seconds; after ``len(schedule) + 1`` failed tries the row
  is ``dead`` with ``last_error``. ``GET /v1/callbacks?state=dead`` lists those,
  ``POST /v1/callbacks/{id}/retry`` puts one back to ``pending`` with a fresh schedule.

Delivery is at least once: a POST cancelled by a stop, or answered after the receiver's own
timeout, is sent again later. Receivers deduplicate on ``X-Callback-Id`` (or the message id).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
import trio
from sqlalchemy import Connection, bindparam, select, update

from .http.auth import sign
from .store.schema import api_keys, callbacks
from .store.store import Store

log = structlog.get_logger("smsgw.callbacks")

#: seconds to wait after the 1st, 2nd, ... failed try; one more try than entries, then dead
DEFAULT_SCHEDULE: tuple[float, ...] = (10, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
STATES = ("pending", "delivered", "dead")
USER_AGENT = "smsgw/0.1.0 (callbacks)"
_ERROR_TEXT = 300  # characters of a failure kept in last_error

CALLBACK_OUTCOME = (
    update(callbacks)
    .where(callbacks.c.id == bindparam("cb_id"))
    .values(state=bindparam("st"), attempts=bindparam("n"), next_attempt_at=bindparam("at"),
            last_error=bindparam("error"))
)
CALLBACK_RETRY = (
    update(callbacks)
    .where(callbacks.c.id == bindparam("cb_id"), callbacks.c.state.in_(("pending", "dead")))
    .values(state="pending", attempts=0, next_attempt_at=bindparam("at"))
)


@dataclass(slots=True)
class DueCallback:
    id: int
    kind: str
    key_id: str | None
    url: str
    payload: str
    attempts: int


@dataclass(slots=True)
class CallbackStats:
    """Cumulative counters since start, for /metrics."""

    sent: int = 0  # POSTs answered 2xx (rows delivered)
    failed: int = 0  # POSTs that failed (retried later or dead)
    dead: int = 0  # rows given up after the last try


def due_callbacks(conn: Connection, now: float, limit: int) -> list[DueCallback]:
    c = callbacks.c
    rows = conn.execute(
        select(c.id, c.kind, c.key_id, c.url, c.payload, c.attempts)
        .where(c.state == "pending", c.next_attempt_at <= now)
        .order_by(c.next_attempt_at, c.id)
        .limit(limit)
    ).all()
    return [DueCallback(r.id, r.kind, r.key_id, r.url, r.payload, r.attempts) for r in rows]


def next_due(conn: Connection) -> float | None:
    c = callbacks.c
    value = conn.execute(
        select(c.next_attempt_at).where(c.state == "pending").order_by(c.next_attempt_at).limit(1)
    ).scalar()
    return None if value is None else float(value)


def key_secret(conn: Connection, key_id: str) -> str | None:
    """The secret of a key, disabled or not: its callbacks were accepted while it was valid."""
    return conn.execute(select(api_keys.c.secret).where(api_keys.c.id == key_id)).scalar()


def list_callbacks(conn: Connection, key_id: str | None, state: str | None, after: int,
                   limit: int) -> tuple[list[dict[str, Any]], int]:
    """``GET /v1/callbacks``: the rows of ``key_id`` (all when None) in id order after ``after``."""
    c = callbacks.c
    query = select(callbacks).where(c.id > after).order_by(c.id).limit(limit)
    if key_id is not None:
        query = query.where(c.key_id == key_id)
    if state is not None:
        query = query.where(c.state == state)
    rows = conn.execute(query).all()
    return [callback_item(r) for r in rows], rows[-1].id if rows else after


def get_callback(conn: Connection, callback_id: int, key_id: str | None) -> dict[str, Any] | None:
    c = callbacks.c
    query = select(callbacks).where(c.id == callback_id)
    if key_id is not None:
        query = query.where(c.key_id == key_id)
    row = conn.execute(query).first()
    return None if row is None else callback_item(row)


def callback_item(row: Any) -> dict[str, Any]:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = row.payload
    return {"id": str(row.id), "kind": row.kind, "ref_id": str(row.ref_id), "url": row.url, "state": row.state,
            "attempts": row.attempts, "next_attempt_at": row.next_attempt_at, "last_error": row.last_error,
            "payload": payload}


class CallbackSender:
    """Delivers due outbox rows; ``run`` in the daemon's nursery, ``stop`` on the way out."""

    def __init__(
        self,
        store: Store,
        *,
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        concurrency: int = 16,
        timeout: float = 10.0,
        poll_interval: float = 1.0,
        page: int = 200,
        wall_clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        mo_secret: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.schedule = tuple(schedule)
        self.max_attempts = len(self.schedule) + 1
        self.concurrency = concurrency
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.page = page
        self.wall_clock = wall_clock
        self.transport = transport
        self.stats = CallbackStats()
        self.in_flight: set[int] = set()
        self._secrets: dict[str, str] = {}
        self.mo_secret = mo_secret
        self._wake = trio.Event()
        self._stopping = False
        self._idle = trio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ control
    def wake(self) -> None:
        """New rows may be due (a final report, a retry): look now instead of at the next poll."""
        self._wake.set()

    async def stop(self, timeout: float) -> None:
        """Start no new POST; wait up to ``timeout`` for those in flight (the rest stay pending)."""
        self._stopping = True
        self._wake.set()
        with trio.move_on_after(timeout):
            await self._idle.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        limiter = trio.CapacityLimiter(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0))
        async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False,
                                     transport=self.transport, headers={"user-agent": USER_AGENT}) as client, \
                trio.open_nursery() as nursery:
            task_status.started()
            while not self._stopping:
                started = 0
                try:
                    rows = await self.store.read(due_callbacks, self.wall_clock(), self.page)
                except Exception as exc:  # the store is unavailable: try again at the next poll
                    log.warning("reading due callbacks failed", error=str(exc))
                    rows = []
                full = len(rows) == self.page
                for row in rows:
                    if row.id in self.in_flight:
                        continue
                    await limiter.acquire_on_behalf_of(row.id)
                    if self._stopping:
                        limiter.release_on_behalf_of(row.id)
                        break
                    self.in_flight.add(row.id)
                    self._idle = trio.Event()
                    nursery.start_soon(self._deliver, client, limiter, row)
                    started += 1
                if started and full:
                    continue
                await self._sleep()

    async def _sleep(self) -> None:
        with trio.move_on_after(self.poll_interval):
            await self._wake.wait()
        if self._wake.is_set():
            self._wake = trio.Event()
            await trio.sleep(0.05)  # let the writer commit the row that woke us

    # ----------------------------------------------------------------- delivery
    async def _deliver(self, client: httpx.AsyncClient, limiter: trio.CapacityLimiter, row: DueCallback) -> None:
        try:
            error, permanent = await self._post(client, row)
            now = self.wall_clock()
            attempts = row.attempts + 1
            if error is None:
                self.stats.sent += 1
                op = {"cb_id": row.id, "st": "delivered", "n": attempts, "at": now, "error": None}
            elif attempts >= self.max_attempts or permanent:
                self.stats.failed += 1
                self.stats.dead += 1
                op = {"cb_id": row.id, "st": "dead", "n": attempts, "at": now, "error": error[:_ERROR_TEXT]}
                log.warning("callback dead", id=row.id, kind=row.kind, url=row.url, attempts=attempts, error=error)
            else:
                self.stats.failed += 1
                delay = self.schedule[attempts - 1]
                op = {"cb_id": row.id, "st": "pending", "n": attempts, "at": now + delay,
                      "error": error[:_ERROR_TEXT]}
                log.info("callback failed; will retry", id=row.id, url=row.url, attempts=attempts,
                         retry_in=delay, error=error)
            try:
                await self.store.execute([(CALLBACK_OUTCOME, op)])
            except Exception as exc:  # not recorded: the row stays due and is sent again
                log.error("recording a callback outcome failed", id=row.id, error=str(exc))
        finally:
            self.in_flight.discard(row.id)
            limiter.release_on_behalf_of(row.id)
            if not self.in_flight:
                self._idle.set()

    async def _post(self, client: httpx.AsyncClient, row: DueCallback) -> tuple[str | None, bool]:
        """``(None, False)`` when the receiver answered 2xx, else ``(what went wrong, whether
        retrying is pointless)``."""
        try:
            url = httpx.URL(row.url)
        except (httpx.InvalidURL, TypeError) as exc:
            return f"invalid callback URL: {exc}", True
        if url.scheme not in ("http", "https") or not url.host:
            return f"invalid callback URL {row.url!r}: expected http:// or https://", True
        body = row.payload.encode()
        target = url.raw_path.decode("ascii")
        headers = {"content-type": "application/json", "x-callback-id": str(row.id), "x-callback-kind": row.kind}
        if row.key_id is None:  # MO: no key; the gateway's MO secret when configured
            if self.mo_secret is None:
                headers |= {"X-Timestamp": str(int(time.time())), "X-Nonce": secrets.token_hex(16)}
            else:
                headers |= sign(self.mo_secret, "POST", target, body)
        else:
            secret = await self._secret(row.key_id)
            if secret is None:
                return f"the API key {row.key_id} that submitted the message no longer exists", True
            headers |= sign(secret, "POST", target, body)
        try:
            with trio.fail_after(self.timeout * 2):
                async with client.stream("POST", url, content=body, headers=headers) as response:
                    if 200 <= response.status_code < 300:
                        return None, False
                    text = b""
                    async for chunk in response.aiter_bytes():
                        text += chunk
                        if len(text) >= 200:
                            break
                    return f"HTTP {response.status_code}: {text[:200].decode('utf-8', 'replace').strip()}", False
        except trio.TooSlowError:
            return f"no answer within {self.timeout * 2:g} s", False
        except httpx.HTTPError as exc:
            return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__), False

    async def _secret(self, key_id: str) -> str | None:
        secret = self._secrets.get(key_id)
        if secret is None:
            secret = await self.store.read(key_secret, key_id)
            if secret is not None:
                self._secrets[key_id] = secret
        return secret


class CallbackCollector:
    """Prometheus view of a sender's counters (registered by ``app.Gateway``)."""

    def __init__(self, sender: CallbackSender) -> None:
        self.sender = sender

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.sender.stats
        for name, help_text, value in (
            ("smsgw_callbacks_sent", "Callback POSTs answered 2xx", s.sent),
            ("smsgw_callbacks_failed", "Callback POSTs that failed (retried or dead)", s.failed),
            ("smsgw_callbacks_dead", "Callbacks given up after the last try", s.dead),
        ):
            family = CounterMetricFamily(name, help_text)
            family.add_metric([], value)
            yield family
        in_flight = GaugeMetricFamily("smsgw_callbacks_in_flight", "Callback POSTs in progress")
        in_flight.add_metric([], len(self.sender.in_flight))
        yield in_flight
