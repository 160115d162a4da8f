"""The gateway end to end: HTTP in, PDUs out to simulated SMSCs, receipts back, statuses out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio

from .harness import gateway_with_sims


@pytest.mark.parametrize("to", ["13000000000", "13800138000", "13300000000"])
async def test_message_delivered_on_each_protocol(tmp_path: Path, to: str) -> None:
    async with gateway_with_sims(tmp_path, gateway_options={"store_writer": "thread"}) as h:  # not the default
        response = await h.call("POST", "/v1/messages", {"to": to, "text": "您的验证码是123456"})
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "accepted" and body["segments"] == 1
        found = await h.wait_status(body["id"], {"delivered"})
        assert found["segments"][0]["stat"] == "DELIVRD" and found["segments"][0]["smsc_id"]


async def test_metrics_channels_healthz(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path) as h:
        metrics = await h.client.get(h.base + "/metrics")
        assert metrics.status_code == 200, metrics.text
        assert "smsgw_queue_depth" in metrics.text
        assert (await h.client.get(h.base + "/healthz")).json() == {"status": "ok"}
        channels = (await h.call("GET", "/v1/channels")).json()
        assert {c["name"] for c in channels} == {"smpp-sim", "cmpp-sim", "smgp-sim"}


async def test_a_second_daemon_on_the_same_database_refuses_to_start(tmp_path: Path) -> None:
    """Both would send every queued message: the second exits 2 naming the database, the first
    goes on."""
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
        second = await trio.run_process(
            [str(Path(sys.executable).parent / "smsgw"), "--config", str(h.config_path), "serve"],
            capture_stdout=True, capture_stderr=True, check=False, stdin=subprocess.DEVNULL)
        assert second.returncode == 2, second.stderr
        assert b"another smsgw daemon is using" in second.stderr and b"one daemon per database" in second.stderr
        response = await h.call("POST", "/v1/messages", {"to": "13000000000", "text": "still here"})
        await h.wait_status(response.json()["id"], {"delivered"})


async def test_submit_to_report_latency_is_measured(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",), sim_options={"smpp": {"dlr_delay": 0.3}}) as h:
        message_id = await h.send("13000000000", "how long until the receipt")
        await h.wait_status(message_id, {"delivered"})
        metrics = (await h.client.get(h.base + "/metrics")).text
        lines = dict(line.rsplit(" ", 1) for line in metrics.splitlines()
                     if line.startswith("smsgw_submit_report_seconds_"))
        assert float(lines["smsgw_submit_report_seconds_count"]) == 1
        assert 0.2 <= float(lines["smsgw_submit_report_seconds_sum"]) < 5
        assert float(lines['smsgw_submit_report_seconds_bucket{le="0.5"}']) == 1
        assert 'smsgw_receipts_total{channel="smpp-sim",stat="DELIVRD"} 1.0' in metrics


async def test_fresh_messages_are_handed_to_the_queue_once(tmp_path: Path) -> None:
    """Batches and single messages posted concurrently are queued from their committed writes
    (not read back from the database), each message once: every one delivered, and the queues
    took as many messages as were posted, most of them handed over."""
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
        ids: list[str] = []

        async def batch(start: int) -> None:
            ids.extend(await h.batch([f"1300000{start + i:04d}" for i in range(40)]))

        async def single(n: int) -> None:
            ids.append(await h.send(f"1300001{n:04d}", "one by one"))

        async with trio.open_nursery() as nursery:
            for k in range(5):
                nursery.start_soon(batch, 40 * k)
            for n in range(30):
                nursery.start_soon(single, n)
        assert len(ids) == 230
        assert (await h.wait_final(ids)) == {"delivered": 230}
        handed = await h.metric('smsgw_messages_loaded_total{how="handed_over"}')
        assert await h.metric("smsgw_messages_loaded_total") == 230
        assert handed >= 115, handed
