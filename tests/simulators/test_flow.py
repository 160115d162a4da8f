"""Flow control and session upkeep: --window, --tps, --max-binds, keepalives both ways,
idle sessions closed, receipts only when asked, long submits recorded per segment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from protocols import cmpp, smgp, smpp
from protocols.session import BindRefused, State

from .client import (
    bound_client,
    connect,
    long_submits,
    pk_submits,
    response_id,
    sim_config,
    start_server,
    status_of,
    submit,
)

PROTOCOLS = ["smpp", "cmpp", "smgp"]
THROTTLED = {"smpp": smpp.Status.ESME_RTHROTTLED, "cmpp": cmpp.Result.FLOW_CONTROL, "smgp": smgp.Status.SYSTEM_BUSY}
KEEPALIVE = {"smpp": smpp.CommandId.ENQUIRE_LINK, "cmpp": cmpp.CommandId.ACTIVE_TEST,
             "smgp": smgp.CommandId.ACTIVE_TEST}


async def burst(client: Any, pdus: list[Any]) -> list[int]:
    """Send ``pdus`` in one write and wait for all their responses."""
    sequences = [client.session.send(pdu, trio.current_time()) for pdu in pdus]
    await client.flush()
    await client.until(lambda: all(s in client.responses for s in sequences))
    return [status_of(client.responses[s]) for s in sequences]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_window_excess_gets_the_flow_control_error(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, window=4))
            client = await bound_client(protocol, server.port)
            statuses = await burst(client, [submit(protocol) for _ in range(10)])
            assert statuses == [0] * 4 + [THROTTLED[protocol]] * 6
            assert server.stats.window_refused == 6 and server.stats.accepted == 4
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tps_excess_gets_the_throttling_error(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, tps=5))
            client = await bound_client(protocol, server.port)
            statuses = await burst(client, [submit(protocol) for _ in range(12)])
            assert statuses.count(0) == 5 and statuses.count(THROTTLED[protocol]) == 7
            await trio.sleep(0.5)  # 2.5 tokens come back
            assert (await burst(client, [submit(protocol) for _ in range(2)])) == [0, 0]
            assert server.stats.throttled == 7
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tps_is_per_account_across_binds(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, tps=4))
            first = await bound_client(protocol, server.port)
            second = await bound_client(protocol, server.port)
            assert (await burst(first, [submit(protocol) for _ in range(3)])) == [0, 0, 0]
            assert (await burst(second, [submit(protocol) for _ in range(3)])) == [0] + [THROTTLED[protocol]] * 2
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_max_binds_per_account(protocol: str) -> None:
    refused = {"smpp": smpp.Status.ESME_RBINDFAIL, "cmpp": cmpp.ConnectStatus.OTHER_ERROR,
               "smgp": smgp.Status.TOO_MANY_CONNECTIONS}[protocol]
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, max_binds=1))
            first = await bound_client(protocol, server.port)
            second = await connect(protocol, server.port)
            outcome = await second.bind()
            assert isinstance(outcome, BindRefused) and outcome.status == refused
            await first.aclose()
            while server.connections:
                await trio.sleep(0.01)
            third = await bound_client(protocol, server.port)  # the slot is free again
            assert (await burst(third, [submit(protocol)])) == [0]
            assert server.stats.binds == 2 and server.stats.bind_refused == 1
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_keepalives_answered_and_sent(protocol: str) -> None:
    seen: list[tuple[str, int]] = []
    keepalive = KEEPALIVE[protocol]
    response = keepalive | 0x80000000
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, keepalive=0.2))
            client = await bound_client(protocol, server.port,
                                        tracer=lambda way, pdu: seen.append((way, pdu.command_id)))
            await client.until(lambda: ("in", keepalive) in seen)  # the line went quiet: the server asks
            assert ("out", response) in seen  # and the client session answered
            seen.clear()
            client.session.keepalive_interval = 0.05  # now the client asks
            await client.until(lambda: ("in", response) in seen)
            assert server.stats.protocol_violations == 0
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_silent_session_is_closed(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, keepalive=0.1, idle_timeout=0.4))
            client = await bound_client(protocol, server.port)
            started = trio.current_time()
            while await client.stream.receive_some(4096):  # read, never answer the keepalives
                pass
            assert 0.3 < trio.current_time() - started < 1.5
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_receipts_only_when_asked(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol))
            client = await bound_client(protocol, server.port)
            quiet = await client.submit_all([submit(protocol, report=False) for _ in range(5)])
            asked = await client.submit_all([submit(protocol, report=True) for _ in range(5)])
            await client.until(lambda: len(client.receipts) == 5)
            with trio.move_on_after(0.3):
                await client.until(lambda: len(client.receipts) > 5)
            assert len(client.receipts) == 5 and server.stats.reports_sent == 5
            assert len(quiet) == len(asked) == 5
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", ["smpp", "smgp"])  # CMPP has no receive-only login
async def test_receipts_go_to_a_receiver_bind(protocol: str) -> None:
    """A transmitter-only bind gets no receipts; they wait for and go to the receiver."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol))
            tx = await bound_client(protocol, server.port, mode=State.BOUND_TX)
            await tx.submit_all([submit(protocol) for _ in range(3)])
            await trio.sleep(0.1)  # due, but nobody can receive them yet
            rx = await bound_client(protocol, server.port, mode=State.BOUND_RX)
            await rx.until(lambda: len(rx.receipts) == 3)
            assert tx.receipts == []
            nursery.cancel_scope.cancel()


TEXT = "您好，这是一条很长的测试短信，用来检查长短信的分段和记录是否正确。" * 3

LONG_CASES = [
    ("smpp", "udh"), ("smpp", "sar"), ("cmpp", "udh"), ("cmpp", "pk"), ("smgp", "udh"), ("smgp", "pk"),
]


@pytest.mark.parametrize(("protocol", "style"), LONG_CASES)
async def test_long_submits_recorded_per_segment(protocol: str, style: str, tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    if style == "pk":
        pdus = pk_submits(protocol, TEXT)
    else:
        pdus = long_submits(protocol, TEXT, 42, sar=style == "sar")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, record=str(record)))
            client = await bound_client(protocol, server.port)
            sequences = await client.submit_all(pdus)
            await client.until(lambda: len(client.receipts) == len(pdus))
            nursery.cancel_scope.cancel()
    lines = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    total = len(pdus)
    assert total > 1 and len(lines) == total
    reference = 0 if style == "pk" else 42
    assert [line["segment"] for line in lines] == [
        {"reference": reference, "total": total, "index": i} for i in range(1, total + 1)
    ]
    assert "".join(line["text"] for line in lines) == TEXT
    assert [line["message_id"] for line in lines] == [response_id(protocol, client.responses[s]) for s in sequences]
    assert {line["protocol"] for line in lines} == {protocol} and {line["status"] for line in lines} == {0}
