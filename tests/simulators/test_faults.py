"""Each fault flag shows its effect on a real client session."""

from __future__ import annotations

import collections
from typing import Any

import pytest
import trio

from protocols import cmpp, smgp, smpp
from protocols.session import BindRefused
from protocols.text import decode, parse_udh
from protocols.text.udh import UdhError

from .client import (
    bound_client,
    connect,
    eventually,
    receipt_id_and_stat,
    response_id,
    sim_config,
    start_server,
    status_of,
    submit,
)

PROTOCOLS = ["smpp", "cmpp", "smgp"]


async def pipeline(client: Any, pdus: list[Any]) -> list[int]:
    """Send ``pdus`` in one write, without waiting for anything."""
    sequences = [client.session.send(pdu, trio.current_time()) for pdu in pdus]
    await client.flush()
    return sequences


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_disconnect_every_drops_sessions_but_not_receipts(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, disconnect_every=0.4, dlr_delay=0.6))
            client = await bound_client(protocol, server.port)
            [sequence] = await client.submit_all([submit(protocol)])
            await client.until(lambda: client.eof)  # dropped before the receipt was due
            assert server.stats.disconnects >= 1 and client.receipts == []
            again = await bound_client(protocol, server.port)
            await again.until(lambda: len(again.receipts) == 1)
            assert receipt_id_and_stat(protocol, again.receipts[0])[0] == response_id(
                protocol, client.responses[sequence])
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_dlr_before_resp(protocol: str) -> None:
    seen: list[str] = []

    def trace(way: str, pdu: Any) -> None:
        if way == "in":
            seen.append(type(pdu).__name__)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, dlr_before_resp=True, dlr_delay=5))
            client = await bound_client(protocol, server.port, tracer=trace)
            seen.clear()
            await client.submit_all([submit(protocol)])
            await client.until(lambda: len(client.receipts) == 1)
            assert seen[0].startswith("Deliver") and seen[1].startswith("Submit")
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("id_format", "dlr_id_format"), [("dec", None), ("hex", None), ("hex", "dec"), ("dec", "hex")])
async def test_smpp_id_format_skew(id_format: str, dlr_id_format: str | None) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            config = sim_config("smpp", id_format=id_format, dlr_id_format=dlr_id_format)
            server = await start_server(nursery, config)
            client = await bound_client("smpp", server.port)
            [sequence] = await client.submit_all([submit("smpp")])
            await client.until(lambda: len(client.receipts) == 1)
            answered = client.responses[sequence].message_id
            receipted, _ = receipt_id_and_stat("smpp", client.receipts[0])
            text_id = client.receipts[0].short_message.decode().split()[0].removeprefix("id:")
            assert receipted == text_id
            bases = {"dec": 10, "hex": 16}
            assert int(answered, bases[id_format]) == int(receipted, bases[dlr_id_format or id_format])
            assert (answered == receipted) == (dlr_id_format in (None, id_format))
            if id_format == "hex":
                assert len(answered) == 8 and answered == answered.upper()
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_drop_resp_ratio(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, drop_resp_ratio=0.3))
            client = await bound_client(protocol, server.port, response_timeout=0.3)
            sequences = await pipeline(client, [submit(protocol) for _ in range(40)])
            await client.until(lambda: len(client.responses) + len(client.timeouts) == 40)
            dropped = server.stats.responses_dropped
            assert 0 < dropped < 40 and len(client.timeouts) == dropped
            assert {t.request.sequence for t in client.timeouts} == set(sequences) - set(client.responses)
            await client.until(lambda: len(client.receipts) == 40)  # the messages were still accepted
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("protocol", "code"), [("smpp", smpp.Status.ESME_RSUBMITFAIL), ("cmpp", 9), ("smgp", 6)])
async def test_error_ratio(protocol: str, code: int) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, error_ratio=((code, 0.25),)))
            client = await bound_client(protocol, server.port)
            sequences = await client.submit_all([submit(protocol) for _ in range(40)])
            statuses = collections.Counter(status_of(client.responses[s]) for s in sequences)
            assert set(statuses) == {0, code} and statuses[code] == server.stats.errors_injected
            await client.until(lambda: len(client.receipts) == statuses[0])  # receipts only for accepted
            summary = server.summary()
            assert summary["accepted"] == statuses[0] and summary["submits"] == 40
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_slow_resp_ms(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, slow_resp_ms=300, window=3))
            client = await bound_client(protocol, server.port)
            started = trio.current_time()
            first = await pipeline(client, [submit(protocol) for _ in range(2)])
            await trio.sleep(0.05)
            second = await pipeline(client, [submit(protocol) for _ in range(2)])  # 2 still held back
            await client.until(lambda: all(s in client.responses for s in first + second))
            assert trio.current_time() - started >= 0.3
            statuses = [status_of(client.responses[s]) for s in first + second]
            assert statuses.count(0) == 3 and server.stats.window_refused == 1  # held-back responses count
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reject_bind(protocol: str) -> None:
    expected = {"smpp": smpp.Status.ESME_RINVPASWD, "cmpp": cmpp.ConnectStatus.AUTHENTICATION_ERROR,
                "smgp": smgp.Status.AUTHENTICATION_ERROR}[protocol]
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, reject_bind=True))
            client = await connect(protocol, server.port)
            outcome = await client.bind("test", "test")
            assert isinstance(outcome, BindRefused) and outcome.status == expected
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_dlr_outcomes(protocol: str) -> None:
    outcomes = (("DELIVRD", 0.5), ("UNDELIV", 0.3), ("EXPIRED", 0.2))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, dlr_outcomes=outcomes))
            client = await bound_client(protocol, server.port, window=200)
            await client.submit_all([submit(protocol) for _ in range(200)])
            await client.until(lambda: len(client.receipts) == 200)
            stats = collections.Counter(receipt_id_and_stat(protocol, r)[1] for r in client.receipts)
            assert set(stats) == {"DELIVRD", "UNDELIV", "EXPIRED"}
            assert 70 < stats["DELIVRD"] < 130 and stats["UNDELIV"] > stats["EXPIRED"] / 2
            nursery.cancel_scope.cancel()


async def test_smpp_receipt_on_failure_only() -> None:
    outcomes = (("DELIVRD", 0.5), ("UNDELIV", 0.5))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config("smpp", dlr_outcomes=outcomes))
            client = await bound_client("smpp", server.port)
            pdus = [submit("smpp") for _ in range(40)]
            for pdu in pdus:
                pdu.registered_delivery = 2  # SMSC delivery receipt on failure only
            await client.submit_all(pdus)
            await client.until(lambda: len(client.receipts) >= 5)
            await trio.sleep(0.2)
            assert {receipt_id_and_stat("smpp", r)[1] for r in client.receipts} == {"UNDELIV"}
            assert 5 <= server.stats.reports_sent < 40
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_mo_rate_sends_long_messages_in_segments(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, mo_rate=40, seed=3))
            client = await bound_client(protocol, server.port)
            await client.until(lambda: len(client.mo) >= 60)
            nursery.cancel_scope.cancel()
    messages: dict[int, list[tuple[int, int, str]]] = collections.defaultdict(list)
    singles = 0
    for pdu in client.mo:
        reference, total, index, text = _segment(protocol, pdu)
        if total == 1:
            singles += 1
        else:
            messages[reference].append((index, total, text))
    complete = [parts for parts in messages.values() if len(parts) == parts[0][1]]
    assert singles and complete
    texts = ["".join(t for _, _, t in sorted(parts)) for parts in complete]
    assert all(t.startswith(("您好", "Long reply ")) for t in texts)
    assert any([i for i, _, _ in parts] != sorted(i for i, _, _ in parts) for parts in complete)  # out of order
    assert server.stats.mo_sent >= len(client.mo)


def _segment(protocol: str, pdu: Any) -> tuple[int, int, int, str]:
    """(reference, total, index, text) of one MO deliver."""
    if protocol == "smpp":
        data, udhi, coding = pdu.short_message, smpp.has_udh(pdu), {0: "gsm7", 8: "ucs2"}[pdu.data_coding]
    elif protocol == "cmpp":
        data, udhi, coding = pdu.msg_content, pdu.tp_udhi == 1, {0: "ascii", 8: "ucs2"}[pdu.msg_fmt]
    else:
        data, udhi, coding = pdu.msg_content, pdu.udhi, {0: "ascii", 15: "gb18030"}[pdu.msg_format]
    from protocols.text import Alphabet

    concat = None
    if udhi:
        try:
            udh, data = parse_udh(data)
        except UdhError:
            udh = None
        concat = udh.concat if udh else None
    reference, total, index = concat or (0, 1, 1)
    return reference, total, index, decode(data, Alphabet(coding))


async def test_smpp_zoo_generic_nack_without_sequence() -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config("smpp", zoo=("generic-nack-no-seq",)))
            server.behaviour.chance = lambda probability: True  # every submit, not 2%
            client = await bound_client("smpp", server.port, response_timeout=0.2)
            [sequence] = await pipeline(client, [submit("smpp")])
            await client.until(lambda: len(client.timeouts) == 1)
            [violation] = client.violations
            assert violation.error.command_id == smpp.CommandId.GENERIC_NACK and violation.error.sequence == 0
            assert client.timeouts[0].request.sequence == sequence and not client.responses
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_zoo_bad_length(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, zoo=("bad-length",)))
            server.behaviour.chance = lambda probability: True
            client = await bound_client(protocol, server.port)
            await pipeline(client, [submit(protocol)])
            await client.until(lambda: client.closed is not None)
            assert "framing" in client.closed.reason and client.violations
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_zoo_deliver_before_bind(protocol: str) -> None:
    decoders = {"smpp": smpp.decode, "cmpp": cmpp.decode, "smgp": smgp.decode}
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, zoo=("deliver-before-bind",)))
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            pdu = decoders[protocol](await stream.receive_some(4096))
            assert type(pdu).__name__ in ("DeliverSm", "Deliver") and pdu.sequence == 1
            client = await connect(protocol, server.port)  # a client session answers it with a refusal
            await client.until(lambda: len(client.violations) == 1)
            await eventually(lambda: server.stats.protocol_violations == 1)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_zoo_unbind_mid_window(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, zoo=("unbind-mid-window",), window=1000))
            client = await bound_client(protocol, server.port, window=600)
            await pipeline(client, [submit(protocol, report=False) for _ in range(520)])
            await client.until(lambda: client.closed is not None)
            assert client.closed.reason == "peer unbound"
            assert client.closed.outstanding  # submits the simulator never answered
            assert len(client.responses) < 520
            nursery.cancel_scope.cancel()
