"""The dispatcher on its own: a fresh SQLite file, one channel that never binds (nothing listens
on its port), and the test playing the channel's part (``submitted``, ``inbound``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from sqlalchemy import insert, select

from protocols.receipts import is_final
from smsgw import dispatch
from smsgw import queries as q
from smsgw.channel import Job
from smsgw.config import load
from smsgw.dispatch import Dispatcher
from smsgw.intake import Intake
from smsgw.keys import new_key
from smsgw.link import MoPart, Outcome, Receipt, SubmitResult
from smsgw.store import migrate
from smsgw.store.errors import WriteFailed
from smsgw.store.ids import IdGenerator
from smsgw.store.schema import messages, mo_messages, mo_parts, unmatched_reports
from smsgw.store.schema import reports as report_rows
from smsgw.store.store import Store, open_store
from smsgw.store.writer import Op
from tests.e2e.harness import closed_port, write_config

CHANNEL = "smpp-sim"
KEY = new_key("test")


@dataclass
class Bench:
    dispatcher: Dispatcher
    store: Store
    nursery: trio.Nursery

    async def start(self) -> None:
        """Run the dispatcher as ``serve`` does: restore, then feed the channel's queue."""
        await self.nursery.start(self.dispatcher.run)

    async def message(self, text: str = "hello", *, to: str = "13000000001", expires_in: float = 3600.0) -> int:
        """Store one message as POST /v1/messages does, valid for ``expires_in`` more seconds."""
        intake = Intake(self.dispatcher)
        draft = intake.draft({"to": to, "text": text}, KEY)
        message_id = self.dispatcher.ids.next()
        now = time.time()
        ops = intake.ops(KEY.id, draft, message_id, now)
        ops[0][1]["expires_at"] = now + expires_in
        await self.store.execute(ops)
        return message_id

    async def jobs(self, count: int) -> list[Job]:
        """Wait until the feeder has queued ``count`` jobs; take them off the queue."""
        queue = self.dispatcher.channels[CHANNEL].queue
        with trio.fail_after(5):
            while len(queue) < count:
                await trio.sleep(0.01)
        taken = list(queue)
        queue.clear()
        return taken

    def submitted(self, job: Job, smsc_id: str) -> None:
        """The operator took ``job`` and gave it ``smsc_id``."""
        self.dispatcher.submitted(CHANNEL, job, SubmitResult(Outcome.OK, "0", "", smsc_id), 0.0, 0.0)

    async def row(self, message_id: int) -> Any:
        """The message's row once every write queued so far has committed."""
        await self.store.execute([(q.BARRIER, {})])
        return await self.store.read(lambda conn: conn.execute(
            select(messages).where(messages.c.id == message_id)).one())

    async def mo(self) -> tuple[list[str], int]:
        """The MO texts stored, and the count of parts stored for a message still incomplete."""
        await self.store.execute([(q.BARRIER, {})])
        return await self.store.read(lambda conn: (
            list(conn.execute(select(mo_messages.c.text).order_by(mo_messages.c.id)).scalars()),
            len(conn.execute(select(mo_parts)).all())))

    async def status(self, message_id: int, wanted: str) -> Any:
        """The message's row once its status is ``wanted`` (submit marks are written a moment
        after ``submitted``); its last status if that takes over 3 s."""
        with trio.move_on_after(3):
            while (await self.row(message_id)).status != wanted:
                await trio.sleep(0.01)
        return await self.row(message_id)


@asynccontextmanager
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    config = load(write_config(tmp_path, {"smpp": closed_port()}))
    migrate.upgrade(config.gateway.database)
    async with open_store(config.gateway.database) as store, trio.open_nursery() as nursery:
        yield Bench(Dispatcher(config, store, IdGenerator(0)), store, nursery)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("stats", [("ACCEPTD", "DELIVRD"), ("DELIVRD", "ENROUTE")])
async def test_parked_receipts_are_reloaded_oldest_first(tmp_path: Path, stats: tuple[str, str]) -> None:
    """Two receipts parked for one operator id before a restart, older first: the submit response
    after it finds the final one, as it would have before. ACCEPTD then DELIVRD: reloaded newest
    first, the older intermediate receipt won. DELIVRD then a late ENROUTE: the ENROUTE replaced
    it (and a reloaded receipt was always taken as final)."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            message_id = await b.message()
            now = time.time()
            await b.store.execute([(insert(unmatched_reports), {
                "channel": CHANNEL, "smsc_id": "7f", "smsc_key": b.dispatcher.links[CHANNEL].dlr_key("7f"),
                "stat": stat, "err": "000", "received_at": now - age, "raw": None, "matched_message_id": None,
            }) for stat, age in zip(stats, (2.0, 1.0), strict=True)])
            await b.start()
            [job] = await b.jobs(1)
            b.submitted(job, "7f")
            assert (await b.status(message_id, "delivered")).status == "delivered"


async def test_a_late_intermediate_receipt_does_not_replace_a_parked_final_one(tmp_path: Path) -> None:
    """Report before response, and the operator sends ENROUTE after DELIVRD: the submit response
    finds the final receipt (before, the ENROUTE replaced it and the message never became final)."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            message_id = await b.message()
            await b.start()
            [job] = await b.jobs(1)
            await b.dispatcher.inbound(CHANNEL, [receipt("7f", "DELIVRD"), receipt("7f", "ENROUTE")])
            b.submitted(job, "7f")
            assert (await b.status(message_id, "delivered")).status == "delivered"


async def test_an_smpp5_scheduled_receipt_is_intermediate(tmp_path: Path) -> None:
    """SMPP 5.0's SCHEDULED says the message waits for its delivery time: the final receipt
    follows. It failed the message before (any stat not known was taken as a failure)."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            message_id = await b.message()
            await b.start()
            [job] = await b.jobs(1)
            b.submitted(job, "7f")
            await b.dispatcher.inbound(CHANNEL, [receipt("7f", "SCHEDULED")])
            assert (await b.row(message_id)).status != "failed"
            await b.dispatcher.inbound(CHANNEL, [receipt("7f", "DELIVRD")])
            assert (await b.status(message_id, "delivered")).status == "delivered"


async def test_a_repeated_final_receipt_is_a_duplicate_after_its_entry_is_freed(tmp_path: Path) -> None:
    """A segment's final receipt frees its in-memory entry (the map holds only segments awaiting
    one); the operator sending it again is matched in the database and counted a duplicate: no
    second report, the status unchanged. Also for one part of a long message."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            short = await b.message()
            long = await b.message("x" * 200)
            await b.start()
            jobs = await b.jobs(3)
            for job in jobs:
                b.submitted(job, f"{job.message_id % 1000:x}{job.index}")
            keys = [f"{job.message_id % 1000:x}{job.index}" for job in jobs]
            for message_id in (short, long):  # the submit marks written, as long before any receipt
                assert (await b.status(message_id, "submitted")).status == "submitted"
            await b.dispatcher.inbound(CHANNEL, [receipt(key, "DELIVRD") for key in keys])
            assert not b.dispatcher._sent
            await b.dispatcher.inbound(CHANNEL, [receipt(keys[0], "DELIVRD"), receipt(keys[2], "UNDELIV")])
            assert b.dispatcher.stats.receipts_duplicate == 2
            for message_id in (short, long):
                assert (await b.status(message_id, "delivered")).status == "delivered"
            reports = await b.store.read(lambda conn: conn.execute(select(report_rows)).all())
            assert sorted(row.message_id for row in reports) == sorted([short, long])


def receipt(smsc_id: str, stat: str) -> Receipt:
    return Receipt(smsc_id, stat, "000", stat == "DELIVRD", is_final(stat))


def mo_part(index: int, total: int = 2, text: str | None = None) -> MoPart:
    text = text or f"part {index} "
    return MoPart("13900000001", "10690000", text.encode(), 0, text, (77, total, index))


def failing_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write fails (the database locked) until the test puts ``Store.execute`` back."""

    async def execute(self: Store, ops: Sequence[Op]) -> None:
        raise WriteFailed("database is locked (test)")

    monkeypatch.setattr(Store, "execute", execute)


async def test_a_long_mo_whose_last_part_failed_to_store_is_stored_when_it_comes_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The write of the part that completes a long MO fails: the session drops unacknowledged and
    the operator sends the part again. It must be stored then (the message was already taken as
    complete in memory, so the resent part was acknowledged as a repeat and the MO was lost)."""
    real = Store.execute
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            await b.dispatcher.inbound(CHANNEL, [mo_part(1)])
            failing_writes(monkeypatch)
            with pytest.raises(WriteFailed):
                await b.dispatcher.inbound(CHANNEL, [mo_part(2)])
            monkeypatch.setattr(Store, "execute", real)
            await b.dispatcher.inbound(CHANNEL, [mo_part(2)])
            assert await b.mo() == (["part 1 part 2 "], 0)


async def test_a_repeated_mo_part_is_acknowledged_only_once_its_message_is_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two binds: the last part arrives on one, and again on the other (the operator missed the
    first answer) while the first one's write is still running. The repeat is acknowledged only
    after that write committed, so a crash in between cannot lose an acknowledged part."""
    real = Store.execute
    writing = trio.Event()

    async def slow_execute(self: Store, ops: Sequence[Op]) -> None:
        writing.set()
        await trio.sleep(0.3)
        await real(self, ops)

    with trio.fail_after(10):
        async with bench(tmp_path) as b, trio.open_nursery() as nursery:
            await b.dispatcher.inbound(CHANNEL, [mo_part(1)])
            monkeypatch.setattr(Store, "execute", slow_execute)
            nursery.start_soon(b.dispatcher.inbound, CHANNEL, [mo_part(2)])
            await writing.wait()
            await b.dispatcher.inbound(CHANNEL, [mo_part(2)])  # returns when it may be acknowledged
            monkeypatch.setattr(Store, "execute", real)
            assert await b.mo() == (["part 1 part 2 "], 0)


async def test_an_mo_flush_whose_write_failed_is_done_by_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long MO that never completes is stored as it is after a while; if that write fails,
    the next expiry run stores it (the group was dropped from memory first, and its parts
    stayed in ``mo_parts`` until a restart)."""
    monkeypatch.setattr(dispatch, "_MO_MAX_AGE", 0.05)
    real = Store.execute
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            await b.dispatcher.inbound(CHANNEL, [mo_part(1, total=3)])
            await trio.sleep(0.1)
            failing_writes(monkeypatch)
            with pytest.raises(WriteFailed):
                await b.dispatcher.expire_once()
            monkeypatch.setattr(Store, "execute", real)
            await b.dispatcher.expire_once()
            assert await b.mo() == (["part 1 "], 0)


def to_service(dest: str, index: int) -> MoPart:
    """Part ``index`` of 2 of a long MO from one sender to ``dest``, always with reference 77."""
    text = f"{dest}:{index} "
    return MoPart("13900000001", dest, text.encode(), 0, text, (77, 2, index))


async def stored_mo(b: Bench) -> list[tuple[str, str]]:
    await b.store.execute([(q.BARRIER, {})])
    return await b.store.read(lambda conn: [tuple(row) for row in conn.execute(
        select(mo_messages.c.to_number, mo_messages.c.text).order_by(mo_messages.c.to_number))])


async def test_two_long_mos_to_two_service_numbers_with_one_reference_do_not_mix(tmp_path: Path) -> None:
    """One sender writes to two service numbers of a channel at once, both messages with the
    reference 77 (their parts interleaved, each part its own deliver): each part keeps its own
    row in ``mo_parts`` (keyed without the recipient, the second replaced the first, and the
    first message stored whole deleted the other's parts) and each message is stored whole."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            for part in (to_service("10690001", 1), to_service("10690002", 1)):
                await b.dispatcher.inbound(CHANNEL, [part])
            assert (await b.mo())[1] == 2
            await b.dispatcher.inbound(CHANNEL, [to_service("10690001", 2)])
            assert (await b.mo())[1] == 1  # the other message's part stays
            await b.dispatcher.inbound(CHANNEL, [to_service("10690002", 2)])
            assert await stored_mo(b) == [("10690001", "10690001:1 10690001:2 "),
                                          ("10690002", "10690002:1 10690002:2 ")]
            assert (await b.mo())[1] == 0


async def test_two_long_mos_to_two_service_numbers_complete_after_a_restart(tmp_path: Path) -> None:
    """The same, the first parts of both stored before a restart, the last ones after: both are
    reassembled from the durable parts."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            await b.dispatcher.inbound(CHANNEL, [to_service("10690001", 1), to_service("10690002", 1)])
        async with bench(tmp_path) as b:
            await b.start()  # reloads the parts
            await b.dispatcher.inbound(CHANNEL, [to_service("10690002", 2)])
            await b.dispatcher.inbound(CHANNEL, [to_service("10690001", 2)])
            assert await stored_mo(b) == [("10690001", "10690001:1 10690001:2 "),
                                          ("10690002", "10690002:1 10690002:2 ")]
            assert (await b.mo())[1] == 0


LONG = "长" * 200  # UCS-2: three parts


async def test_a_message_sent_in_part_is_not_expired_as_never_sent(tmp_path: Path) -> None:
    """A long message whose first part went out before a restart, loaded after its validity
    ended: its other parts are not sent, and it ends like a sent message without a final
    receipt (``no_receipt``), not as ``validity_expired`` (never sent); a receipt of the sent
    part still counts until then."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            sent, failed, unsent = [await b.message(LONG, expires_in=-1) for _ in range(3)]
            await b.store.execute([(q.SEGMENT_SUBMITTED, {"m_id": m_id, "m_idx": 1, "smsc_id": smsc_id,
                                                          "smsc_key": smsc_id, "at": time.time(), "tries": 1})
                                   for m_id, smsc_id in ((sent, "a1"), (failed, "b1"))])
            await b.start()
            with trio.fail_after(5):
                while b.dispatcher.stats.accepted_loaded < 3:
                    await trio.sleep(0.01)
            assert not b.dispatcher.channels[CHANNEL].queue
            assert (await b.status(unsent, "expired")).error_code == "validity_expired"
            assert (await b.row(sent)).status == (await b.row(failed)).status == "accepted"
            await b.dispatcher.inbound(CHANNEL, [Receipt("b1", "UNDELIV", "001", False, True)])
            assert await b.dispatcher.expire_once() == 1
            assert [((row := await b.row(m_id)).status, row.error_code) for m_id in (sent, failed)] == [
                ("expired", "no_receipt"), ("failed", "UNDELIV")]


async def test_a_job_taken_after_its_validity_ended_is_expired_not_sent(tmp_path: Path) -> None:
    """The sender asks ``withdrawn`` right before it sends a job: a message whose validity ended
    while it was queued is expired then (``validity_expired``), not sent up to 30 s late until
    the expiry job noticed. A long message with a part already handed out sends no more parts
    and is left to the expiry job (``no_receipt``)."""
    with trio.fail_after(10):
        async with bench(tmp_path) as b:
            stored = time.time()
            short = await b.message(expires_in=1.0)
            long = await b.message(LONG, expires_in=1.0)
            valid = await b.message()
            await b.start()
            one, first, second, third, other = await b.jobs(5)
            withdrawn = b.dispatcher.withdrawn
            assert not withdrawn(first) and not withdrawn(other)
            b.submitted(first, "c1")
            await trio.sleep(stored + 1.1 - time.time())
            assert withdrawn(one) and withdrawn(second) and withdrawn(third)
            assert (await b.status(short, "expired")).error_code == "validity_expired"
            assert [(await b.row(m_id)).status for m_id in (long, valid)] == ["accepted", "accepted"]
            assert await b.dispatcher.expire_once() == 1
            assert (await b.row(long)).error_code == "no_receipt"
