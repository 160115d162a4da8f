"""HTTP API behaviour against a running gateway (CONTRACT §5), on SQLite and, when
SMSGW_TEST_PG_URL is set, on PostgreSQL (``db_url`` fixture, a fresh schema per test)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from sqlalchemy import select

from smsgw import api
from smsgw.http.auth import sign
from smsgw.keys import set_disabled
from smsgw.store.schema import messages, segments

from .harness import gateway_with_sims, number
from .store_faults import next_commit_unanswered


async def test_accepted_only_after_commit_and_client_ref_idempotent(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp",)) as h:
            response = await h.call("POST", "/v1/messages", {"to": number("smpp", 1), "text": "x" * 200,
                                                             "client_ref": "order-1"})
            assert response.status_code == 202, response.text
            body = response.json()
            assert body["status"] == "accepted" and body["segments"] == 2
            # durable: at once, a connection of another engine sees the message and its segments
            rows = h.read_db(lambda conn: (
                conn.execute(select(messages.c.status).where(messages.c.id == int(body["id"]))).all(),
                conn.execute(select(segments.c.idx).where(segments.c.message_id == int(body["id"]))).all(),
            ))
            assert len(rows[0]) == 1 and len(rows[1]) == 2

            again = await h.call("POST", "/v1/messages", {"to": number("smpp", 2), "text": "other",
                                                          "client_ref": "order-1"})
            assert again.status_code == 202 and again.json()["id"] == body["id"]
            other_key = h.new_key()
            third = await h.call("POST", "/v1/messages", {"to": number("smpp", 1), "text": "y",
                                                          "client_ref": "order-1"}, key=other_key)
            assert third.status_code == 202 and third.json()["id"] != body["id"]
            await h.wait_status(body["id"], {"delivered"})


async def test_an_unconfirmed_commit_is_a_503_to_retry_and_the_retry_finds_the_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit happened but its answer was lost (e.g. the writer process died): the client
    is told to retry, not that it failed for good, and its retry under the same client_ref
    gets the stored message instead of a second one."""
    body = {"to": number("smpp", 1), "text": "x", "client_ref": "order-9"}
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            with next_commit_unanswered(monkeypatch):
                refused = await h.call("POST", "/v1/messages", body)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "store_unavailable"
            assert refused.headers["retry-after"] == "1"
            retried = await h.call("POST", "/v1/messages", body)
            assert retried.status_code == 202, retried.text
            assert h.read_db(lambda conn: conn.execute(select(messages.c.id)).scalars().all()) == [
                int(retried.json()["id"])]


async def test_refusals_have_their_codes(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp", "cmpp")) as h:
            cases = [
                ({"to": "12345", "text": "x"}, "invalid_number"),
                ({"to": 13800138000, "text": "x"}, "invalid_number"),
                ({"to": "13800138000", "text": "x", "channel": "nope"}, "unknown_channel"),
                ({"to": "13300000000", "text": "x"}, "no_route"),  # 133 is the (absent) SMGP route
                ({"to": "13800138000"}, "missing_text"),
                ({"to": "13800138000", "text": "   "}, "missing_text"),
                ({"to": "13800138000", "text": "x" * 2001}, "text_too_long"),
            ]
            for body, code in cases:
                response = await h.call("POST", "/v1/messages", body)
                assert response.status_code == 400, (body, response.text)
                assert response.json()["error"]["code"] == code, (body, response.text)
            for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
                response = await h.call("POST", "/v1/messages", raw=raw)
                assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
            for path, code in (("/v1/reports?after=abc", "invalid_cursor"), ("/v1/reports?limit=0", "invalid_limit"),
                               ("/v1/mo?after=-1", "invalid_cursor")):
                response = await h.call("GET", path)
                assert response.status_code == 400 and response.json()["error"]["code"] == code, path
            # MO messages belong to no key: only an admin key lists them
            response = await h.call("GET", "/v1/mo", key=h.new_key())
            assert response.status_code == 403 and response.json()["error"]["code"] == "admin_required"
            # nothing refused was stored
            count = await h.gateway.store.read(lambda conn: len(conn.execute(select(messages.c.id)).all()))
            assert count == 0


async def test_auth_failures_are_401_with_codes(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp",)) as h:
            url = h.base + "/v1/reports"

            async def get(headers: dict[str, str]) -> tuple[int, str]:
                response = await h.client.get(url, headers=headers)
                return response.status_code, response.json()["error"]["code"]

            assert await get(sign("whatever", "GET", "/v1/reports", key_id="ak_unknown")) == (401, "unknown_key")
            assert await get(sign("wrong secret", "GET", "/v1/reports", key_id=h.key)) == (401, "bad_signature")
            stale = sign(h.secret, "GET", "/v1/reports", timestamp=int(time.time()) - 301, key_id=h.key)
            assert await get(stale) == (401, "stale_timestamp")
            future = sign(h.secret, "GET", "/v1/reports", timestamp=int(time.time()) + 301, key_id=h.key)
            assert await get(future) == (401, "stale_timestamp")
            headers = sign(h.secret, "GET", "/v1/reports", key_id=h.key)
            assert (await h.client.get(url, headers=headers)).status_code == 200
            assert await get(headers) == (401, "replayed_nonce")
            assert await get({}) == (401, "missing_auth")
            # a signature over another path does not authorise this one
            assert await get(sign(h.secret, "GET", "/v1/reports?limit=5", key_id=h.key)) == (401, "bad_signature")


async def test_other_keys_message_is_404(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp",)) as h:
            alice, bob = h.new_key(), h.new_key()
            created = await h.call("POST", "/v1/messages", {"to": number("smpp", 1), "text": "hi"}, key=alice)
            message_id = created.json()["id"]
            assert (await h.call("GET", f"/v1/messages/{message_id}", key=alice)).status_code == 200
            response = await h.call("GET", f"/v1/messages/{message_id}", key=bob)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
            assert (await h.call("GET", "/v1/messages/12x", key=bob)).status_code == 404


async def test_reports_cursor_paging(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp",)) as h:
            alice = h.new_key()
            ids = []
            for i in range(7):
                response = await h.call("POST", "/v1/messages", {"to": number("smpp", i), "text": "r",
                                                                 "client_ref": f"ref-{i}"}, key=alice)
                ids.append(response.json()["id"])
            await h.wait_final(ids)
            seen: list[dict[str, object]] = []
            cursor = "0"
            while True:
                page = (await h.call("GET", f"/v1/reports?after={cursor}&limit=3", key=alice)).json()
                assert len(page["items"]) <= 3
                if not page["items"]:
                    assert page["next"] == cursor  # an empty page keeps the cursor
                    break
                seen += page["items"]
                cursor = page["next"]
            assert sorted(item["message_id"] for item in seen) == sorted(ids)
            assert all(item["status"] == "delivered" and item["stat"] == "DELIVRD" for item in seen)
            assert {item["client_ref"] for item in seen} == {f"ref-{i}" for i in range(7)}
            # another key sees none of them
            other = (await h.call("GET", "/v1/reports", key=h.new_key())).json()
            assert other["items"] == []


async def test_batch_progresses_until_done(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp", "cmpp")) as h:
            recipients = [{"to": number("smpp", i)} for i in range(20)] + [{"to": number("cmpp", i)}
                                                                           for i in range(20)]
            recipients += [{"to": "bad"}, {"to": number("smpp", 0)}]  # invalid, duplicate
            response = await h.call("POST", "/v1/batches", {"text": "batch", "recipients": recipients})
            assert response.status_code == 202, response.text
            created = response.json()
            assert (created["total"], created["accepted"], created["rejected"]) == (42, 40, 2)
            states = []
            with trio.fail_after(10):
                while True:
                    progress = (await h.call("GET", f"/v1/batches/{created['id']}")).json()
                    states.append(progress["state"])
                    if progress["state"] == "done":
                        break
                    await trio.sleep(0.02)
            assert progress["delivered"] == 40 and progress["pending"] == 0 and progress["failed"] == 0
            assert progress["submitted"] == 40


async def test_graceful_stop_leaves_nothing_in_flight(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, db_url=db_url, protocols=("smpp",),
            sim_options={"smpp": {"slow_resp_ms": 100, "window": 64}}, channel_options={"smpp": {"tps": 200}},
        ) as h:
            ids = await h.batch(number("smpp", i) for i in range(300))
            channel = h.gateway.dispatcher.channels["smpp-sim"]
            with trio.fail_after(5):
                while channel.in_flight < 8:
                    await trio.sleep(0.005)
            h.gateway.stop.set()
            await h.stopped.wait()
            assert channel.in_flight == 0 and channel.slots[0].state == "stopped"
            sim = h.sims["smpp"]
            assert not sim.connections  # unbound and closed
            # every submit the operator took has its answer recorded; the rest is still queued
            sent = h.read_db(lambda conn: len(conn.execute(
                select(segments.c.message_id).where(segments.c.status != "accepted")).all()))
            assert sent == sim.stats.accepted
            statuses = h.read_db(lambda conn: [row.status for row in conn.execute(select(messages.c.status))])
            assert len(statuses) == 300 and 0 < statuses.count("accepted") < 300
            with pytest.raises(httpx.TransportError):  # intake and HTTP are closed
                await h.call("POST", "/v1/messages", {"to": number("smpp", 1), "text": "late"})
            assert len(ids) == 300


async def test_a_disabled_key_is_refused_by_the_running_daemon(tmp_path: Path, db_url: str | None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``smsgw keys disable`` writes the database only; the daemon drops its cached copy."""
    monkeypatch.setattr(api, "KEY_RECHECK", 0.05)
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp",)) as h:
            user = h.new_key()
            body = {"to": number("smpp", 1), "text": "hello"}
            assert (await h.call("POST", "/v1/messages", body, key=user)).status_code == 202

            def switch(disabled: bool) -> None:
                def work(conn: Any) -> None:
                    assert set_disabled(conn, user[0], disabled)
                    conn.commit()
                h.read_db(work)

            switch(True)
            while (refused := await h.call("POST", "/v1/messages", body, key=user)).status_code == 202:
                await trio.sleep(0.02)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "unknown_key"
            assert (await h.call("GET", "/v1/channels")).status_code == 200  # other keys unaffected
            switch(False)
            assert (await h.call("POST", "/v1/messages", body, key=user)).status_code == 202
