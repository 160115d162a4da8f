"""The gateway end to end: HTTP in, PDUs out to simulated SMSCs, receipts back, statuses out."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import gateway_with_sims


@pytest.mark.parametrize("to", ["13000000000", "13800138000", "13300000000"])
async def test_message_delivered_on_each_protocol(tmp_path: Path, to: str) -> None:
    async with gateway_with_sims(tmp_path) as h:
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
