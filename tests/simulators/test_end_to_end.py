"""Each protocol end to end over TCP: bind with real authenticators, submits answered with
ids in the protocol's format, receipts naming those ids, summary counts matching."""

from __future__ import annotations

import re

import pytest
import trio

from protocols.session import BindRefused

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

PROTOCOLS = [("smpp", 3), ("cmpp", 2), ("cmpp", 3), ("smgp", 3)]
ID_FORMAT = {"smpp": re.compile(r"^\d+$"), "cmpp": re.compile(r"^\d+$"), "smgp": re.compile(r"^[0-9a-f]{20}$")}


@pytest.mark.parametrize(("protocol", "version"), PROTOCOLS)
async def test_submits_get_ids_and_receipts(protocol: str, version: int) -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, cmpp_version=version))
            client = await bound_client(protocol, server.port, version=version)
            sequences = await client.submit_all([submit(protocol, f"msg {i}") for i in range(50)])
            ids = [response_id(protocol, client.responses[s]) for s in sequences]
            assert all(status_of(client.responses[s]) == 0 for s in sequences)
            assert len(set(ids)) == 50 and all(ID_FORMAT[protocol].match(i) for i in ids)
            await client.until(lambda: len(client.receipts) == 50)
            receipts = [receipt_id_and_stat(protocol, r, version) for r in client.receipts]
            assert sorted(i for i, _ in receipts) == sorted(ids)
            assert {stat for _, stat in receipts} == {"DELIVRD"}
            await eventually(lambda: server.stats.delivers_acked == 50)
            summary = server.summary()
            assert summary["binds"] == 1 and summary["submits"] == summary["accepted"] == 50
            assert summary["reports_sent"] == 50
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(("protocol", "version"), PROTOCOLS)
async def test_bad_credentials_get_the_auth_error(protocol: str, version: int) -> None:
    expected = {"smpp": 0x0E, "cmpp": 3, "smgp": 21}[protocol]
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config(protocol, cmpp_version=version))
            client = await connect(protocol, server.port, version=version)
            outcome = await client.bind("test", "wrong")
            assert isinstance(outcome, BindRefused) and outcome.status == expected
            await client.until(lambda: client.eof)
            assert server.stats.bind_refused == 1
            nursery.cancel_scope.cancel()
