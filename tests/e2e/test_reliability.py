"""Faults at the operator's end: every accepted message still reaches a final state, and the
gateway behaves as docs/reliability.md says (pause on throttling, back off on refused binds,
park early receipts, store unknown ones, reconnect on a silent peer)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
import trio
from sqlalchemy import select

from simulators.adapter import Adapter
from simulators.cli import adapter_for
from smsgw.store.schema import mo_parts

from .harness import ACCOUNTS, closed_port, gateway_with_sims, number, sim_config

PROTOCOLS = ("smpp", "cmpp", "smgp")
#: throttling status per protocol, and a permanent error
THROTTLE = {"smpp": 0x58, "cmpp": 8, "smgp": 1}
#: the simulator counts a held-back (slow) response twice against its window (see the report):
#: give it room so that slow responses are not refused as flow control
SLOW_WINDOW = 64
PERMANENT = {"smpp": (0x0B, "0x0000000B"), "cmpp": (13, "13"), "smgp": (47, "47")}


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_disconnect_mid_window_loses_nothing(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, protocols=(proto,),
            sim_options={proto: {"disconnect_every": 0.25, "slow_resp_ms": 20, "window": SLOW_WINDOW}},
            channel_options={proto: {"tps": 600}},
        ) as h:
            ids = await h.batch(number(proto, i) for i in range(400))
            counts = await h.wait_final(ids, timeout=25)
            assert counts == {"delivered": 400}
            assert h.sims[proto].stats.disconnects >= 2
            assert h.gateway.dispatcher.channels[f"{proto}-sim"].stats.reconnects >= 2


async def test_throttling_by_operator_tps_pauses_and_recovers(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), sim_options={"smpp": {"tps": 100}}) as h:
            ids = await h.batch(number("smpp", i) for i in range(250))
            started = trio.current_time()
            assert await h.wait_final(ids, timeout=20) == {"delivered": 250}
            channel = h.gateway.dispatcher.channels["smpp-sim"]
            assert channel.stats.throttled > 0
            assert h.sims["smpp"].stats.throttled > 0
            # 150 over the operator's burst at 100/s: ~1.5 s; a pause that escalates on every
            # throttled response of one window would sit out 10 s
            assert trio.current_time() - started < 6


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_throttling_status_pauses_and_resends(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, protocols=(proto,), sim_options={proto: {"error_ratio": ((THROTTLE[proto], 0.1),)}},
        ) as h:
            ids = await h.batch(number(proto, i) for i in range(80))
            assert await h.wait_final(ids, timeout=20) == {"delivered": 80}
            channel = h.gateway.dispatcher.channels[f"{proto}-sim"]
            assert channel.stats.throttled > 0
            assert channel.stats.responses[str(THROTTLE[proto]) if proto != "smpp" else "0x00000058"] > 0


async def test_bind_refused_backs_off_exponentially_then_delivers(tmp_path: Path) -> None:
    rmin, rmax = 0.05, 0.4
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, protocols=("smpp",), sim_options={"smpp": {"reject_bind": True}},
            channel_options={"smpp": {"reconnect_min": rmin, "reconnect_max": rmax}},
        ) as h:
            ids = [await h.send(number("smpp", i)) for i in range(20)]
            sim = h.sims["smpp"]
            attempts: list[float] = []
            first = seen = sim.stats.bind_refused  # refusals before we watch are not timed
            start = trio.current_time()
            while trio.current_time() - start < 2.0:
                if sim.stats.bind_refused > seen:
                    seen = sim.stats.bind_refused
                    attempts.append(trio.current_time())
                await trio.sleep(0.002)
            gaps = [b - a for a, b in itertools.pairwise(attempts)]
            # after the n-th refusal the slot waits backoff_n * uniform(0.5, 1), with
            # backoff_n = min(2^n * reconnect_min, reconnect_max)
            for k, gap in enumerate(gaps, first + 1):
                backoff = min(rmin * 2 ** k, rmax)
                assert backoff / 2 - 0.01 <= gap <= backoff + 0.05, (k, gaps)
            # no hammering: at least rmax / 2 between attempts once the backoff is saturated,
            # so at most a handful of binds in 2 s
            assert 4 <= len(attempts) <= 2.0 / (rmax / 2) + 4, attempts
            assert await h.statuses(ids) == {"accepted": 20}

            await h.restart_sim("smpp")
            assert await h.wait_final(ids, timeout=10) == {"delivered": 20}
            assert h.gateway.dispatcher.channels["smpp-sim"].slots[0].last_error is None


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_receipt_before_response_is_parked_and_applied(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(30):
        # slow responses: every receipt arrives well before its submit response
        async with gateway_with_sims(
            tmp_path, protocols=(proto,),
            sim_options={proto: {"dlr_before_resp": True, "slow_resp_ms": 40, "window": SLOW_WINDOW}},
        ) as h:
            ids = await h.batch(number(proto, i) for i in range(100))
            assert await h.wait_final(ids, timeout=15) == {"delivered": 100}
            stats = h.gateway.dispatcher.stats
            assert stats.receipts_late_matched > 0
            assert stats.receipts_unmatched == stats.receipts_late_matched
            rows = await h.unmatched()
            assert len(rows) == stats.receipts_unmatched
            assert all(row.matched_message_id is not None for row in rows)


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_unknown_receipt_is_stored_and_counted(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(15):
        async with gateway_with_sims(tmp_path, protocols=(proto,)) as h:
            message_id = await h.send(number(proto, 1))
            await h.wait_status(message_id, {"delivered"})
            sim = h.sims[proto]
            acked = sim.stats.delivers_acked
            smsc_id = h.inject_receipt(proto)
            with trio.fail_after(5):
                while sim.stats.delivers_acked == acked:
                    await trio.sleep(0.01)
            rows = await h.unmatched()
            assert len(rows) == 1 and rows[0].matched_message_id is None
            assert rows[0].smsc_id.lstrip("0").lower() == smsc_id.lstrip("0").lower()
            assert rows[0].stat == "DELIVRD"
            assert await h.metric("smsgw_receipts_unmatched_total") == 1


async def test_deliver_before_bind_does_not_break_the_session(tmp_path: Path) -> None:
    """The zoo operator sends a receipt before the bind: the gateway refuses it (no
    acknowledgement, so the operator keeps it), binds and delivers normally."""
    with trio.fail_after(15):
        async with gateway_with_sims(tmp_path, protocols=("smpp",),
                                     sim_options={"smpp": {"zoo": ("deliver-before-bind",)}}) as h:
            message_id = await h.send(number("smpp", 1))
            await h.wait_status(message_id, {"delivered"})
            assert h.gateway.dispatcher.channels["smpp-sim"].stats.violations >= 1


async def test_smpp_hex_decimal_skew(tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with gateway_with_sims(
            tmp_path, protocols=("smpp",), sim_options={"smpp": {"id_format": "hex", "dlr_id_format": "dec"}},
            channel_options={"smpp": {"resp_id_base": "hex", "dlr_id_base": "dec"}},
        ) as h:
            ids = await h.batch(number("smpp", i) for i in range(30))
            assert await h.wait_final(ids) == {"delivered": 30}
            assert h.gateway.dispatcher.stats.receipts_unmatched == 0
            smsc_ids = [(await h.call("GET", f"/v1/messages/{i}")).json()["segments"][0]["smsc_id"] for i in ids]
            # the response side really is hex: read as decimal it would match no receipt
            assert any(not smsc_id.isdigit() for smsc_id in smsc_ids), smsc_ids


async def _silent_smsc(adapter: Adapter, connections: list[trio.SocketStream],
                       task_status: trio.TaskStatus[int]) -> None:
    """Accepts the bind through a real server session, then never says anything again."""

    async def handle(stream: trio.SocketStream) -> None:
        connections.append(stream)
        session = adapter.new_session(trio.current_time())
        while True:
            data = await stream.receive_some(4096)
            if not data:
                return
            for event in session.receive_data(data, trio.current_time()):
                if type(event).__name__ == "BindRequest":
                    assert adapter.accept_bind(session, event.pdu, ACCOUNTS["smpp"][1])
            out = session.data_to_send()
            if out:
                await stream.send_all(out)
            if session.is_bound:
                await trio.sleep_forever()  # silent: reads nothing, answers nothing

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


async def test_keepalive_timeout_closes_and_reconnects(tmp_path: Path) -> None:
    connections: list[trio.SocketStream] = []
    adapter = adapter_for(sim_config("smpp"))
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(_silent_smsc, adapter, connections)
            async with gateway_with_sims(
                tmp_path, protocols=(), ports={"smpp": port},
                channel_options={"smpp": {"keepalive": 0.2, "response_timeout": 0.3}},
            ) as h:
                channel = h.gateway.dispatcher.channels["smpp-sim"]
                with trio.fail_after(5):
                    while len(connections) < 3:
                        await trio.sleep(0.01)
                assert channel.stats.reconnects >= 2  # each silent session was given up
            nursery.cancel_scope.cancel()


async def test_keepalive_timeout_reason_is_recorded(tmp_path: Path) -> None:
    connections: list[trio.SocketStream] = []
    adapter = adapter_for(sim_config("smpp"))
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(_silent_smsc, adapter, connections)
            async with gateway_with_sims(
                tmp_path, protocols=(), ports={"smpp": port},
                channel_options={"smpp": {"keepalive": 0.2, "response_timeout": 0.3, "reconnect_min": 1,
                                          "reconnect_max": 2}},
            ) as h:
                slot = h.gateway.dispatcher.channels["smpp-sim"].slots[0]
                with trio.fail_after(5):
                    while slot.state != "backoff":
                        await trio.sleep(0.01)
                assert slot.last_error == "keepalive not answered"
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_response_timeout_resends(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, protocols=(proto,), sim_options={proto: {"drop_resp_ratio": 0.2}},
            channel_options={proto: {"response_timeout": 0.3, "max_retries": 8}},
        ) as h:
            ids = await h.batch(number(proto, i) for i in range(60))
            assert await h.wait_final(ids, timeout=25) == {"delivered": 60}
            stats = h.gateway.dispatcher.channels[f"{proto}-sim"].stats
            assert stats.timeouts > 0 and stats.resent >= stats.timeouts


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_permanent_error_fails_with_operator_code(tmp_path: Path, proto: str) -> None:
    status, code = PERMANENT[proto]
    with trio.fail_after(15):
        async with gateway_with_sims(tmp_path, protocols=(proto,),
                                     sim_options={proto: {"error_ratio": ((status, 1.0),)}}) as h:
            message_id = await h.send(number(proto, 1))
            found = await h.wait_status(message_id, {"failed", "delivered"})
            assert found["status"] == "failed"
            assert found["error"]["code"] == code and found["error"]["message"]
            assert found["segments"][0]["status"] == "failed"
            assert h.sims[proto].stats.submits == 1  # never retried


LONG = {"smpp": "您好，这是一条很长的测试短信。" * 10, "cmpp": "您好，这是一条很长的测试短信。" * 10,
        "smgp": "您好，这是一条很长的测试短信。" * 10}


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_long_message_final_only_when_all_segments_are(tmp_path: Path, proto: str) -> None:
    record = tmp_path / "record.jsonl"
    with trio.fail_after(20):
        async with gateway_with_sims(
            tmp_path, protocols=(proto,),
            sim_options={proto: {"record": str(record), "dlr_outcomes": (("DELIVRD", 0.85), ("UNDELIV", 0.15)),
                                 "dlr_delay": 0.1}},
        ) as h:
            ids = [await h.send(number(proto, i), LONG[proto]) for i in range(12)]
            await h.wait_final(ids)
            outcomes = set()
            for message_id in ids:
                found = (await h.call("GET", f"/v1/messages/{message_id}")).json()
                stats = [s["stat"] for s in found["segments"]]
                assert len(stats) >= 3
                if all(s == "DELIVRD" for s in stats):
                    assert found["status"] == "delivered"
                else:
                    assert found["status"] == "failed" and "UNDELIV" in stats
                outcomes.add(found["status"])
            assert outcomes == {"delivered", "failed"}
    entries = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    by_reference: dict[tuple[str, int], list[int]] = {}
    for entry in entries:
        assert entry["segment"] is not None and entry["segment"]["total"] >= 3
        by_reference.setdefault((entry["dests"][0], entry["segment"]["reference"]), []).append(
            entry["segment"]["index"])
    assert len(by_reference) == 12
    assert all(sorted(parts) == list(range(1, len(parts) + 1)) for parts in by_reference.values())


MO_TEXTS = {"TD", "Hello from a handset", "您好，我想咨询一下订单的物流情况。" * 6, "Long reply " + "x" * 300}


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_mo_long_out_of_order_reassembled(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, protocols=(proto,), sim_options={proto: {"mo_rate": 40}}) as h:
            long_texts = {t for t in MO_TEXTS if len(t) > 70}
            seen: list[str] = []
            with trio.fail_after(10):
                while not long_texts <= set(seen):
                    seen = [item["text"] for item in (await h.call("GET", "/v1/mo?limit=1000")).json()["items"]]
                    await trio.sleep(0.05)
            sim = h.sims[proto]
    assert set(seen) <= MO_TEXTS, set(seen) - MO_TEXTS
    assert sim.stats.mo_sent > len(seen)  # long ones came in several parts


async def test_cmpp2_end_to_end(tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with gateway_with_sims(
            tmp_path, protocols=("cmpp",), sim_options={"cmpp": {"cmpp_version": 2}},
            channel_options={"cmpp": {"protocol": "cmpp2"}},
        ) as h:
            short = await h.send(number("cmpp", 1), "验证码 123456")
            long = await h.send(number("cmpp", 2), "您好，这是一条很长的测试短信。" * 10)
            for message_id in (short, long):
                found = await h.wait_status(message_id, {"delivered", "failed"})
                assert found["status"] == "delivered"
                assert all(s["stat"] == "DELIVRD" for s in found["segments"])


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_mo_and_receipts_survive_disconnects(tmp_path: Path, proto: str) -> None:
    """Delivers stored but not yet acknowledged when the line drops come again: storing
    them twice must not fail (or the session would be dropped for ever after)."""
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, protocols=(proto,),
            sim_options={proto: {"mo_rate": 200, "disconnect_every": 0.15, "dlr_delay": 0.01}},
        ) as h:
            ids = await h.batch(number(proto, i) for i in range(300))
            assert await h.wait_final(ids, timeout=20) == {"delivered": 300}
            sim = h.sims[proto]
            with trio.fail_after(5):
                while sim.stats.disconnects < 6:
                    await trio.sleep(0.02)
            last = await h.send(number(proto, 999))
            await h.wait_status(last, {"delivered"})
            writer = h.gateway.store.writer.stats
            assert writer.failed_requests == 0
            items = (await h.call("GET", "/v1/mo?limit=1000")).json()["items"]
            assert items and {item["text"] for item in items} <= MO_TEXTS


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_repeated_mo_part_is_stored_once(tmp_path: Path, proto: str) -> None:
    """An operator resends a deliver whose response it missed. A repeated part of an
    unfinished long MO must be acknowledged, not fail the store and drop the session."""
    text = "您好，我想咨询一下订单的物流情况。" * 9
    with trio.fail_after(15):
        async with gateway_with_sims(tmp_path, protocols=(proto,)) as h:
            first = await h.send(number(proto, 1))
            await h.wait_status(first, {"delivered"})
            sim = h.sims[proto]
            parts = sim.adapter.mo_messages("13912345678", "10690000", text, 77)
            assert len(parts) >= 3
            acked = sim.stats.delivers_acked
            h.inject_deliver(proto, parts[0])
            h.inject_deliver(proto, parts[0])
            with trio.fail_after(5):
                while sim.stats.delivers_acked < acked + 2:
                    await trio.sleep(0.01)
            for part in parts[1:]:
                h.inject_deliver(proto, part)
            with trio.fail_after(5):
                while not (items := (await h.call("GET", "/v1/mo")).json()["items"]):
                    await trio.sleep(0.02)
            assert [item["text"] for item in items] == [text]
            # a part resent after the message was complete is acknowledged and leaves nothing behind
            acked = sim.stats.delivers_acked
            h.inject_deliver(proto, parts[-1])
            with trio.fail_after(5):
                while sim.stats.delivers_acked < acked + 1:
                    await trio.sleep(0.01)
            assert h.read_db(lambda conn: conn.execute(select(mo_parts)).all()) == []
            assert len((await h.call("GET", "/v1/mo")).json()["items"]) == 1
            assert h.gateway.store.writer.stats.failed_requests == 0
            assert h.gateway.dispatcher.channels[f"{proto}-sim"].stats.reconnects == 0


async def test_response_arriving_while_the_receipt_is_looked_up(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Report before response, with the response arriving while the receipt's database
    look-up is running: the receipt must still be applied, not parked for ever."""
    from smsgw import queries

    find_sent = queries.find_sent

    def slow_find_sent(*args: object) -> object:
        found = find_sent(*args)  # type: ignore[arg-type]
        time.sleep(0.15)  # in the reader thread: the submit response comes meanwhile
        return found

    monkeypatch.setattr(queries, "find_sent", slow_find_sent)
    with trio.fail_after(15):
        async with gateway_with_sims(
            tmp_path, protocols=("smpp",),
            sim_options={"smpp": {"dlr_before_resp": True, "slow_resp_ms": 50, "window": SLOW_WINDOW}},
        ) as h:
            ids = await h.batch(number("smpp", i) for i in range(5))
            assert await h.wait_final(ids, timeout=5) == {"delivered": 5}
            assert h.gateway.dispatcher.stats.receipts_unmatched == 0


async def test_a_receipt_after_expiry_changes_nothing(tmp_path: Path) -> None:
    """No receipt within the validity period: ``expired`` (no_receipt), one report. The receipt
    that comes later still matches the message in memory, and must not report it a second time."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), gateway_options={"validity": 1},
                                     sim_options={"smpp": {"dlr_delay": 2.5}}) as h:
            message_id = await h.send(number("smpp", 1), "late receipt")
            await h.wait_status(message_id, {"submitted"})
            await trio.sleep(1.1)
            assert await h.gateway.dispatcher.expire_once() == 1
            expired = await h.wait_status(message_id, {"expired"})
            assert expired["error"]["code"] == "no_receipt"
            with trio.fail_after(10):
                while h.sims["smpp"].stats.delivers_acked < 1:  # the late receipt, stored and acknowledged
                    await trio.sleep(0.05)
            await trio.sleep(0.2)
            assert (await h.wait_status(message_id, {"expired"}))["status"] == "expired"
            feed = (await h.call("GET", "/v1/reports")).json()
            assert [(r["message_id"], r["status"]) for r in feed["items"]] == [(message_id, "expired")]


async def test_a_message_never_sent_expires_as_never_sent(tmp_path: Path) -> None:
    """The operator unreachable for the whole validity period: ``expired`` with
    ``validity_expired`` (never sent), not ``no_receipt``."""
    port = closed_port()
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, protocols=(), ports={"smpp": port},
                                     gateway_options={"validity": 1}) as h:
            message_id = await h.send(number("smpp", 1), "never sent")
            await trio.sleep(1.1)
            assert await h.gateway.dispatcher.expire_once() == 1
            expired = await h.wait_status(message_id, {"expired"})
            assert expired["error"]["code"] == "validity_expired"


async def test_a_long_message_stops_at_its_first_failed_segment(tmp_path: Path) -> None:
    """The operator refuses the first part for good: the message fails and the parts still queued
    are not sent (each would be charged, and the handset could show only pieces)."""
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), channel_options={"smpp": {"tps": 1}},
                                     sim_options={"smpp": {"error_ratio": ((0x0B, 1.0),)}}) as h:
            message_id = await h.send(number("smpp", 1), "长" * 200)  # UCS-2: three parts
            failed = await h.wait_status(message_id, {"failed"})
            assert len(failed["segments"]) == 3
            await trio.sleep(2.5)  # two more seconds of budget: the other parts would have gone by now
            assert h.sims["smpp"].stats.submits == 1
