"""python-smpplib, an independent SMPP client, against the simulator: bind, a long UCS-2
message (its own segmentation), every receipt back with the ids the responses gave."""

from __future__ import annotations

from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.gsm
import trio

from .client import sim_config, start_server

TEXT = "你好，世界！这是一条来自 python-smpplib 的长短信。" * 4


def converse(port: int) -> tuple[list[str], list[Any]]:
    """Blocking smpplib session (run in a worker thread): message ids and receipts."""
    ids: list[str] = []
    receipts: list[Any] = []
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu: ids.append(pdu.message_id.decode()))
    client.set_message_received_handler(lambda pdu: receipts.append(pdu))
    client.connect()
    try:
        client.bind_transceiver(system_id="test", password="test")
        parts, coding, esm_class = smpplib.gsm.make_parts(TEXT)
        for part in parts:
            client.send_message(
                source_addr="SMSGW", destination_addr="13800138000", short_message=part,
                data_coding=coding, esm_class=esm_class, registered_delivery=True,
            )
        while len(ids) < len(parts) or len(receipts) < len(parts):
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return ids, receipts


async def test_smpplib_long_ucs2_message_gets_every_receipt(tmp_path: Any) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await start_server(nursery, sim_config("smpp", record=str(tmp_path / "r.jsonl")))
            ids, receipts = await trio.to_thread.run_sync(converse, server.port)
            assert len(ids) > 1 and len(set(ids)) == len(ids)
            receipted = sorted(r.receipted_message_id.decode().rstrip("\0") for r in receipts)
            assert receipted == sorted(ids)
            assert all(b"stat:DELIVRD" in r.short_message for r in receipts)
            summary = server.summary()
            assert summary["accepted"] == summary["reports_sent"] == summary["delivers_acked"] == len(ids)
            nursery.cancel_scope.cancel()
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(ids) and all(f'"total": {len(ids)}' in line for line in lines)
