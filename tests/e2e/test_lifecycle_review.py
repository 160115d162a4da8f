"""The life of a message after it was accepted, at the edges a review found: what happens
when responses stop coming, when receipts of a long message come together or after a restart,
and when many messages expire at once."""

from __future__ import annotations

from pathlib import Path

import trio

from .harness import gateway_with_sims, number


async def test_responses_that_all_time_out_still_free_the_window(tmp_path: Path) -> None:
    """The operator keeps the line up (keepalives answered) but answers no submit: once every
    request of a full window has timed out, the sender must resend into the freed slots (and
    fail the messages after max_retries), not sleep until a response that never comes."""
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, protocols=("smpp",), sim_options={"smpp": {"drop_resp_ratio": 1.0}},
            channel_options={"smpp": {"window": 2, "response_timeout": 0.3, "max_retries": 2}},
        ) as h:
            ids = [await h.send(number("smpp", i)) for i in range(3)]
            counts = await h.wait_final(ids, timeout=10)
            assert counts == {"failed": 3}
            found = (await h.call("GET", f"/v1/messages/{ids[2]}")).json()
            assert found["error"]["code"] == "response_timeout"
            assert h.sims["smpp"].stats.submits == 6
