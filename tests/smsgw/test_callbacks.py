"""The callback sender (CONTRACT §5 "Callbacks") against a local HTTP receiver on port 0, and
the dead-letter routes ``GET /v1/callbacks`` / ``POST /v1/callbacks/{id}/retry``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from sqlalchemy import insert, select

from smsgw.callbacks import CallbackSender
from smsgw.http.auth import body_digest, signature, string_to_sign
from smsgw.http.server import serve_http
from smsgw.http.types import Request, Response, json_response
from smsgw.keys import insert_key, new_key
from smsgw.store.schema import callbacks
from smsgw.store.store import Store, open_store
from tests.e2e.harness import NUMBER, gateway_with_sims

REPORT = {"message_id": "123", "to": "13800138000", "status": "delivered", "stat": "DELIVRD", "err": "000",
          "done_at": 1718000000.5, "client_ref": "ref-1"}


@dataclass
class Receiver:
    """Answers POSTs with the scripted statuses (then 200) and records what it got."""

    statuses: list[int] = field(default_factory=list)
    got: list[tuple[Request, bytes]] = field(default_factory=list)
    arrived: trio.Event = field(default_factory=trio.Event)
    url: str = ""

    async def __call__(self, request: Request) -> Response:
        body = await request.read()
        self.got.append((request, body))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        return json_response({"ok": status < 300}, status)

    async def wait(self, count: int, timeout: float = 10) -> None:
        with trio.fail_after(timeout):
            while len(self.got) < count:
                self.arrived = trio.Event()
                await self.arrived.wait()


@asynccontextmanager
async def receiver(nursery: trio.Nursery, *statuses: int) -> AsyncIterator[Receiver]:
    rx = Receiver(list(statuses))
    stop = trio.Event()
    listeners = await nursery.start(lambda task_status: serve_http(rx, "127.0.0.1", 0, stop=stop,
                                                                   task_status=task_status))
    port = listeners[0].socket.getsockname()[1]
    rx.url = f"http://127.0.0.1:{port}/hooks/sms?tenant=7"
    try:
        yield rx
    finally:
        stop.set()


def verify(request: Request, body: bytes, secret: str) -> bool:
    h = request.headers
    expected = signature(secret, string_to_sign("POST", request.target, h["x-timestamp"], h["x-nonce"],
                                                body_digest(body)))
    return expected == h.get("x-signature")


async def _add_callback(store: Store, cb_id: int, url: str, key_id: str | None, kind: str = "report",
                        payload: dict[str, Any] | None = None) -> None:
    await store.execute([(insert(callbacks), {
        "id": cb_id, "kind": kind, "ref_id": 123, "key_id": key_id, "url": url,
        "payload": json.dumps(payload or REPORT), "state": "pending", "attempts": 0,
        "next_attempt_at": time.time() - 1, "last_error": None,
    })])


async def _row(store: Store, cb_id: int) -> Any:
    return await store.read(lambda conn: conn.execute(select(callbacks).where(callbacks.c.id == cb_id)).one())


async def _wait_state(store: Store, cb_id: int, state: str, timeout: float = 10) -> Any:
    with trio.fail_after(timeout):
        while True:
            row = await _row(store, cb_id)
            if row.state == state:
                return row
            await trio.sleep(0.02)


@asynccontextmanager
async def sender_on(db_url: str, **options: Any) -> AsyncIterator[tuple[Store, CallbackSender, str, str,
                                                                         trio.Nursery]]:
    key = new_key("callbacks-test")
    async with open_store(db_url) as store, trio.open_nursery() as nursery:
        await trio.to_thread.run_sync(_insert_key, store, key)
        sender = CallbackSender(store, **{"schedule": (0.05, 0.05), "poll_interval": 0.05, "timeout": 2,
                                          **options})
        await nursery.start(sender.run)
        yield store, sender, key.id, key.secret, nursery
        await sender.stop(1)
        nursery.cancel_scope.cancel()


def _insert_key(store: Store, key: Any) -> None:
    with store.engine.begin() as conn:
        insert_key(conn, key)


# ----------------------------------------------------------------------------- sender
async def test_signed_report_delivered(db_url: str) -> None:
    async with sender_on(db_url) as (store, sender, key_id, secret, nursery), receiver(nursery) as rx:
        await _add_callback(store, 1, rx.url, key_id)
        sender.wake()
        await rx.wait(1)
        request, body = rx.got[0]
        assert request.method == "POST" and request.target == "/hooks/sms?tenant=7"
        assert json.loads(body) == REPORT
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-callback-id"] == "1" and request.headers["x-callback-kind"] == "report"
        assert "x-api-key" not in request.headers
        assert len(request.headers["x-nonce"]) >= 16
        assert abs(int(request.headers["x-timestamp"]) - time.time()) < 5
        assert verify(request, body, secret)
        row = await _wait_state(store, 1, "delivered")
        assert row.attempts == 1 and row.last_error is None
        assert sender.stats.sent == 1 and sender.stats.failed == 0


async def test_retries_on_500_then_delivered(db_url: str) -> None:
    async with sender_on(db_url) as (store, sender, key_id, secret, nursery), receiver(nursery, 500) as rx:
        await _add_callback(store, 2, rx.url, key_id)
        row = await _wait_state(store, 2, "delivered")
        assert row.attempts == 2 and len(rx.got) == 2
        assert all(verify(request, body, secret) for request, body in rx.got)
        assert rx.got[0][0].headers["x-nonce"] != rx.got[1][0].headers["x-nonce"]
        assert sender.stats.sent == 1 and sender.stats.failed == 1 and sender.stats.dead == 0


async def test_dead_after_the_last_try(db_url: str) -> None:
    async with sender_on(db_url) as (store, sender, key_id, _, nursery), receiver(nursery, 500, 503, 500, 500) as rx:
        await _add_callback(store, 3, rx.url, key_id)
        row = await _wait_state(store, 3, "dead")
        assert row.attempts == 3 and len(rx.got) == 3  # schedule of 2 delays: 3 tries
        assert row.last_error.startswith("HTTP 500")
        assert sender.stats.dead == 1 and sender.stats.failed == 3
        await trio.sleep(0.3)
        assert len(rx.got) == 3  # nothing more once dead


async def test_unreachable_receiver_is_retried_then_dead(db_url: str) -> None:
    async with sender_on(db_url, schedule=(0.05,)) as (store, _sender, key_id, _, _nursery):
        with trio.socket.socket() as sock:  # a port nobody listens on
            await sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        await _add_callback(store, 4, f"http://127.0.0.1:{port}/x", key_id)
        row = await _wait_state(store, 4, "dead")
        assert row.attempts == 2 and "Connect" in row.last_error


async def test_invalid_url_and_unknown_key_are_dead_at_once(db_url: str) -> None:
    async with sender_on(db_url) as (store, _sender, key_id, _, _nursery):
        await _add_callback(store, 5, "ftp://example.invalid/x", key_id)
        await _add_callback(store, 6, "http://127.0.0.1:9/x", "ak_gone")
        row = await _wait_state(store, 5, "dead")
        assert row.attempts == 1 and "invalid callback URL" in row.last_error
        row = await _wait_state(store, 6, "dead")
        assert "no longer exists" in row.last_error


async def test_mo_callback_has_timestamp_and_nonce_but_no_signature(db_url: str) -> None:
    async with sender_on(db_url) as (store, _sender, _, _secret, nursery), receiver(nursery) as rx:
        mo = {"id": "9", "channel": "c", "from": "13800138000", "to": "10690000", "text": "你好", "received_at": 1.0}
        await _add_callback(store, 7, rx.url, None, kind="mo", payload=mo)
        await rx.wait(1)
        request, body = rx.got[0]
        assert json.loads(body) == mo and request.headers["x-callback-kind"] == "mo"
        assert "x-timestamp" in request.headers and "x-nonce" in request.headers
        assert "x-signature" not in request.headers
        await _wait_state(store, 7, "delivered")


async def test_concurrency_is_bounded(db_url: str) -> None:
    inside, peak = 0, 0

    async def slow(request: Request) -> Response:
        nonlocal inside, peak
        await request.read()
        inside += 1
        peak = max(peak, inside)
        await trio.sleep(0.1)
        inside -= 1
        return Response(204)

    async with sender_on(db_url, concurrency=3) as (store, _sender, key_id, _, nursery):
        listeners = await nursery.start(lambda task_status: serve_http(slow, "127.0.0.1", 0, task_status=task_status))
        url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        for i in range(10):
            await _add_callback(store, 100 + i, url, key_id)
        for i in range(10):
            await _wait_state(store, 100 + i, "delivered")
        assert peak == 3
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------- through the gateway
async def test_gateway_posts_the_report_of_a_message_with_callback_url(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h, trio.open_nursery() as nursery, \
            receiver(nursery) as rx:
        message_id = await h.send(NUMBER["smpp"], "with callback", callback_url=rx.url, client_ref="cb-1")
        await rx.wait(1, timeout=15)
        request, body = rx.got[0]
        report = json.loads(body)
        assert report["message_id"] == message_id and report["status"] == "delivered"
        assert report["client_ref"] == "cb-1" and report["stat"] == "DELIVRD"
        assert verify(request, body, h.secret)
        # the same item as GET /v1/reports
        items = (await h.call("GET", "/v1/reports")).json()["items"]
        assert report in items
        # the sender marks the row delivered after the receiver answered: wait for that commit
        with trio.fail_after(10):
            while not (listing := (await h.call("GET", "/v1/callbacks?state=delivered")).json())["items"]:
                await trio.sleep(0.02)
        assert [i["payload"]["message_id"] for i in listing["items"]] == [message_id]
        assert await h.metric("smsgw_callbacks_sent_total") == 1
        nursery.cancel_scope.cancel()


async def test_dead_letters_listed_and_retried(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h, trio.open_nursery() as nursery, \
            receiver(nursery) as rx:
        store = h.gateway.store
        other = h.new_key()
        for cb_id, key_id in ((11, h.key), (12, other[0])):
            await _add_callback(store, cb_id, rx.url, key_id)
        await store.execute([(callbacks.update().where(callbacks.c.id.in_((11, 12))),
                              {"state": "dead", "attempts": 10, "last_error": "HTTP 500: no"})])
        # admin sees both, the other key only its own
        dead = (await h.call("GET", "/v1/callbacks?state=dead")).json()
        assert [i["id"] for i in dead["items"]] == ["11", "12"] and dead["next"] == "12"
        assert dead["items"][0]["last_error"] == "HTTP 500: no" and dead["items"][0]["payload"] == REPORT
        own = (await h.call("GET", "/v1/callbacks?state=dead", key=other)).json()
        assert [i["id"] for i in own["items"]] == ["12"]
        assert (await h.call("GET", "/v1/callbacks?state=dead&after=12")).json()["items"] == []
        assert (await h.call("GET", "/v1/callbacks?state=lost")).status_code == 400
        # retry: a key cannot retry another key's row
        assert (await h.call("POST", "/v1/callbacks/11/retry", key=other)).status_code == 404
        response = await h.call("POST", "/v1/callbacks/12/retry", key=other)
        assert response.status_code == 200, response.text
        assert response.json() == {"id": "12", "state": "pending", "attempts": 0}
        await rx.wait(1)
        row = await _wait_state(store, 12, "delivered")
        assert row.attempts == 1
        assert (await h.call("POST", "/v1/callbacks/12/retry")).status_code == 409
        assert (await h.call("POST", "/v1/callbacks/999/retry")).status_code == 404
        nursery.cancel_scope.cancel()


def test_openapi_lists_the_new_routes() -> None:
    from smsgw.api import Api

    class _Intake:
        store = None

    api = Api(_Intake(), lambda: (b"", "text/plain"), None)  # type: ignore[arg-type]
    paths = api.router.openapi("smsgw", "0")["paths"]
    assert "/v1/callbacks" in paths and "/v1/callbacks/{id}/retry" in paths
    assert paths["/v1/channels/{name}/trace"]["get"]["x-admin-required"] is True


