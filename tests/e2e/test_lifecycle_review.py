"""The life of a message after it was accepted, at the edges a review found: what happens
when responses stop coming, when receipts of a long message come together or after a restart,
and when many messages expire at once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
from sqlalchemy import select

from smsgw import dispatch
from smsgw.store.schema import messages
from smsgw.store.writer import Op

from .harness import closed_port, gateway_with_sims, number


async def test_responses_that_all_time_out_still_free_the_window(tmp_path: Path) -> None:
    """The operator keeps the line up (keepalives answered) but answers no submit: once every
    request of a full window has timed out, the sender must resend into the freed slots (and
    fail the messages after max_retries), not sleep until a response that never comes."""
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, protocols=("smpp",), sim_options={"smpp": {"drop_resp_ratio": 1.0}},
            channel_options={"smpp": {"window": 2, "response_timeout": 0.3, "max_retries": 2}},
        ) as h:
            ids = [await h.send(number("smpp", i)) for i in range(3)]
            counts = await h.wait_final(ids, timeout=10)
            assert counts == {"failed": 3}
            found = (await h.call("GET", f"/v1/messages/{ids[2]}")).json()
            assert found["error"]["code"] == "response_timeout"
            assert h.sims["smpp"].stats.submits == 6


LONG = "您好，这是一条很长的测试短信。" * 10  # 3 segments on every protocol
NO_POLICY = {"content_review": False, "frequency_limits": False}


@pytest.mark.parametrize("proto", ("smpp", "cmpp", "smgp"))
async def test_receipts_of_a_long_message_matched_in_the_database_together(
        tmp_path: Path, proto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Receipts matched in the database (the segments are no longer remembered in memory, as
    after a restart or under a receipt backlog) arriving in one read: each saw the others'
    segments still submitted, and a message whose every segment was delivered stayed
    ``submitted`` until it expired."""
    monkeypatch.setattr(dispatch, "_SENT_LIMIT", 0)
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=(proto,), sim_options={proto: {"dlr_delay": 0.3}}) as h:
            ids = [await h.send(number(proto, i), LONG) for i in range(5)]
            assert await h.wait_final(ids, timeout=10) == {"delivered": 5}
            assert h.gateway.dispatcher.stats.receipts_unmatched == 0
            feed = (await h.call("GET", "/v1/reports")).json()
            assert sorted(r["message_id"] for r in feed["items"]) == sorted(ids)


@pytest.mark.parametrize(("dlr_delay", "in_memory"), [(0.05, True), (1.0, True), (1.0, False)],
                         ids=["receipt-while-paused", "receipt-after-resume", "receipt-matched-in-database"])
async def test_long_message_of_a_batch_paused_between_its_segments(
        tmp_path: Path, dlr_delay: float, in_memory: bool) -> None:
    """A batch paused after the first segment of a long message went out, then resumed: the
    rest is sent on resume, and once every segment is delivered so is the message (the resumed
    record took segment 1 as merely submitted, or the receipt of segment 1 updated only the
    record of before the pause or a copy read from the database, and the message stayed
    ``submitted``). Segment 1 forgotten while paused, its receipt is matched in the database
    and the others' in memory, as for a message half sent before a restart."""
    with trio.fail_after(40):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), policy=NO_POLICY,
                                     sim_options={"smpp": {"dlr_delay": dlr_delay}},
                                     channel_options={"smpp": {"tps": 4}}) as h:
            sim = h.sims["smpp"]
            created = (await h.call("POST", "/v1/batches", {
                "text": LONG, "recipients": [{"to": number("smpp", i)} for i in range(2)]})).json()
            with trio.fail_after(10):
                while sim.stats.accepted < 1:
                    await trio.sleep(0.005)
            assert (await h.call("POST", f"/v1/batches/{created['id']}/pause")).status_code == 200
            await trio.sleep(0.3)
            assert sim.stats.accepted == 1  # one segment of the first message only
            if not in_memory:
                h.gateway.dispatcher._sent.clear()
            assert (await h.call("POST", f"/v1/batches/{created['id']}/resume")).json()["state"] == "running"
            rows = await h.gateway.store.read(
                lambda conn: conn.execute(select(messages.c.id).where(messages.c.batch_id == int(created["id"])))
                .all())
            ids = [str(row.id) for row in rows]
            assert await h.wait_final(ids, timeout=20) == {"delivered": 2}
            assert sim.stats.accepted == 6


async def test_a_database_outage_does_not_stop_the_feeder_or_expiry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database unreachable for a moment (PostgreSQL restarting, a locked SQLite file): the
    feeder's page read and the expiry run fail. Both try again later; they used to end the
    dispatcher and with it the daemon, whose windows were then sent again after the restart."""
    from sqlalchemy.exc import OperationalError

    from smsgw import queries

    failures = {"page_accepted": 0, "expired": 0}

    def failing(name: str) -> object:
        real = getattr(queries, name)

        def read(*args: object) -> object:
            if failures[name] < 2:
                failures[name] += 1
                raise OperationalError("SELECT", {}, Exception("server closed the connection (test)"))
            return real(*args)

        return read

    monkeypatch.setattr(dispatch, "_EXPIRY_EVERY", 0.2)
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            monkeypatch.setattr(queries, "page_accepted", failing("page_accepted"))
            monkeypatch.setattr(queries, "expired", failing("expired"))
            message_id = await h.send(number("smpp", 1))
            assert (await h.wait_status(message_id, {"delivered"}))["status"] == "delivered"
            with trio.fail_after(5):
                while failures["expired"] < 2 or failures["page_accepted"] < 2:
                    await trio.sleep(0.05)
            await trio.sleep(0.5)
            assert not h.stopped.is_set()
            assert (await h.wait_status(await h.send(number("smpp", 2)), {"delivered"}))["status"] == "delivered"


async def test_an_expiry_whose_write_failed_is_done_by_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The write of an expiry run fails: the next run expires the same messages (they were
    remembered as expired already, so it wrote nothing and they stayed ``accepted`` for ever)."""
    from smsgw.store.errors import WriteFailed
    from smsgw.store.store import Store

    port = closed_port()
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, protocols=(), ports={"smpp": port},
                                     gateway_options={"validity": 1}) as h:
            message_id = await h.send(number("smpp", 1), "never sent")
            await trio.sleep(1.1)
            real = Store.execute

            async def execute(self: Store, ops: Sequence[Op]) -> None:
                raise WriteFailed("database is locked (test)")

            monkeypatch.setattr(Store, "execute", execute)
            with pytest.raises(WriteFailed):
                await h.gateway.dispatcher.expire_once()
            monkeypatch.setattr(Store, "execute", real)
            assert await h.gateway.dispatcher.expire_once() == 1
            expired = await h.wait_status(message_id, {"expired"}, timeout=2)
            assert expired["error"]["code"] == "validity_expired"
            feed = (await h.call("GET", "/v1/reports")).json()
            assert [(r["message_id"], r["status"]) for r in feed["items"]] == [(message_id, "expired")]


async def test_expiry_takes_every_expired_message_not_a_page_per_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator down for the whole validity period of a large queue: a run expires every
    expired message, not one page of them (1,000 per 30 s: a queue of 100,000 stayed
    ``accepted`` for almost an hour past its validity, without reports)."""
    monkeypatch.setattr(dispatch, "_EXPIRY_PAGE", 2)
    monkeypatch.setattr(dispatch, "_EXPIRY_EVERY", 2.0)
    port = closed_port()
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, protocols=(), ports={"smpp": port},
                                     gateway_options={"validity": 1}) as h:
            started = trio.current_time()
            ids = [await h.send(number("smpp", i), "never sent") for i in range(5)]
            assert trio.current_time() - started < 0.8
            await trio.sleep_until(started + 3.0)  # one run (at 2 s) after the validity ended (at ~1 s)
            assert await h.statuses(ids) == {"expired": 5}
