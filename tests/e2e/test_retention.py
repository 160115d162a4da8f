"""The retention job in a running gateway (SQLite, and PostgreSQL when set): a delivered message,
its report and its segment go once older than ``retention_days``; a message still waiting for
its receipt stays."""

from __future__ import annotations

import time
from pathlib import Path

from .harness import NUMBER, gateway_with_sims


async def test_a_delivered_message_goes_once_old_a_pending_one_stays(tmp_path: Path, db_url: str | None) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp", "cmpp"), db_url=db_url,
                                 sim_options={"cmpp": {"dlr_delay": 3600}},  # no receipt during the test
                                 gateway_options={"retention_days": 1}) as h:
        delivered = await h.send(NUMBER["smpp"])
        waiting = await h.send(NUMBER["cmpp"])
        await h.wait_status(delivered, {"delivered"})
        await h.wait_status(waiting, {"submitted"})

        counts = await h.gateway.retention.run_once(now=time.time() + 2 * 86400)

        assert counts["messages"] == counts["segments"] == counts["reports"] == 1
        assert (await h.call("GET", f"/v1/messages/{delivered}")).status_code == 404
        assert (await h.call("GET", f"/v1/messages/{waiting}")).json()["status"] == "submitted"
        assert (await h.call("GET", "/v1/reports")).json()["items"] == []
        assert await h.metric('smsgw_retention_deleted_total{table="messages"}') == 1
