"""Bad input from one client is answered per protocol (or the connection is closed) and
counted; every other session keeps being served."""

from __future__ import annotations

import struct

import pytest
import trio

from protocols import cmpp, smgp, smpp

from .client import (
    Client,
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


async def still_served(client: Client, protocol: str) -> None:
    """The healthy session still gets its submits answered and receipted."""
    [sequence] = await client.submit_all([submit(protocol)])
    assert status_of(client.responses[sequence]) == 0
    message_id = response_id(protocol, client.responses[sequence])
    await client.until(lambda: message_id in {receipt_id_and_stat(protocol, r)[0] for r in client.receipts})


async def read_until_eof(stream: trio.SocketStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_garbage_closes_only_that_connection(protocol: str) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol))
            healthy = await bound_client(protocol, server.port)
            rogue = await trio.open_tcp_stream("127.0.0.1", server.port)
            await rogue.send_all(b"\xff\xff\xff\xff" + b"GET / HTTP/1.1\r\n\r\n")
            await read_until_eof(rogue)  # an impossible length: the protocol's error, then close
            assert server.stats.protocol_violations == 1
            await still_served(healthy, protocol)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_submit_before_bind_is_refused(protocol: str) -> None:
    expected = {"smpp": smpp.Status.ESME_RINVBNDSTS, "cmpp": cmpp.Result.COMMAND_ERROR,
                "smgp": smgp.Status.COMMAND_WORD_ERROR}[protocol]
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol))
            healthy = await bound_client(protocol, server.port)
            rogue = await connect(protocol, server.port)
            rogue.session._may_send = lambda role, command_id: True  # make the client break the rules
            sequence = await rogue.submit(submit(protocol))
            await rogue.until(lambda: sequence in rogue.responses)
            assert status_of(rogue.responses[sequence]) == expected
            await eventually(lambda: server.stats.protocol_violations == 1)
            assert server.stats.submits == 0
            await still_served(healthy, protocol)
            nursery.cancel_scope.cancel()


async def test_malformed_submit_gets_its_error_response() -> None:
    """A submit_sm whose short message overruns the PDU: submit_sm_resp with an error
    status, and the session stays bound."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config("smpp"))
            client = await bound_client("smpp", server.port)
            frame = bytearray(smpp.encode(submit("smpp", "hello")))
            struct.pack_into(">I", frame, 12, 99)  # sequence 99
            frame[frame.index(b"hello") - 1] = 200  # sm_length beyond the end of the PDU
            await client.stream.send_all(bytes(frame))
            await client.until(lambda: len(client.violations) == 1)
            nack = client.violations[0].error  # the client session got a response naming seq 99
            assert nack.sequence == 99 and nack.command_id in (
                smpp.CommandId.SUBMIT_SM_RESP, smpp.CommandId.GENERIC_NACK)
            assert server.stats.protocol_violations == 1
            await still_served(client, "smpp")
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_submits_then_broken_frame_in_one_write(protocol: str) -> None:
    """Submits and a broken frame in the same read: the session closes, the simulator does
    not crash trying to answer the submits, and other sessions carry on."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol))
            healthy = await bound_client(protocol, server.port)
            rogue = await bound_client(protocol, server.port)
            for _ in range(3):
                rogue.session.send(submit(protocol), trio.current_time())
            await rogue.stream.send_all(rogue.session.data_to_send() + b"\xff\xff\xff\xff" + bytes(12))
            await read_until_eof(rogue.stream)
            await still_served(healthy, protocol)
            nursery.cancel_scope.cancel()


async def test_receipt_that_cannot_be_encoded_is_dropped_not_blocking() -> None:
    """A submit to a destination longer than deliver_sm can carry back (the decoder is lenient)
    is answered, its receipt is dropped with a log line, and later receipts still flow."""
    lines: list[str] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config("smpp"), log=lines.append)
            client = await bound_client("smpp", server.port)
            frame = bytearray(smpp.encode(submit("smpp", "long dest", dest="X" * 20)))
            frame[frame.index(b"X" * 20):frame.index(b"X" * 20) + 20] = b"1" * 25
            struct.pack_into(">II", frame, 0, len(frame), smpp.CommandId.SUBMIT_SM)
            struct.pack_into(">I", frame, 12, 99)
            await client.stream.send_all(bytes(frame))
            await client.until(lambda: server.stats.accepted == 1)  # (its response matches no request of ours)
            await still_served(client, "smpp")
            assert any("report dropped, it cannot be encoded" in line for line in lines)
            nursery.cancel_scope.cancel()
