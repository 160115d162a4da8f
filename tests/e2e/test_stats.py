"""GET /v1/stats and ``smsgw stats`` against the simulators: receipts mixing DELIVRD, UNDELIV,
EXPIRED and operator codes come back as counts and reasons (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import collections
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import trio
from sqlalchemy import func, select

from smsgw.store.schema import messages

from .harness import Harness, gateway_with_sims, number

PER_CHANNEL = 40
OUTCOMES = {
    "smpp": (("DELIVRD", 0.5), ("UNDELIV", 0.25), ("EXPIRED", 0.25)),
    "cmpp": (("DELIVRD", 0.5), ("MK:0001", 0.25), ("DB:0141", 0.25)),
    "smgp": (("DELIVRD", 0.5), ("UNDELIV", 0.25), ("REJECTD", 0.25)),  # err 004 / 005 (D.7)
}
#: the reason each receipt outcome must be counted under, and its raw code
EXPECTED = {
    "smpp-sim": {"UNDELIV": ("unreachable", "UNDELIV err:001"), "EXPIRED": ("expired", "EXPIRED")},
    "cmpp-sim": {"MK:0001": ("empty_number", "MK:0001"), "DB:0141": ("blocked", "DB:0141")},
    "smgp-sim": {"UNDELIV": ("empty_number", "UNDELIV err:004"), "REJECTD": ("blocked", "REJECTD err:005")},
}


async def _send_all(h: Harness) -> list[str]:
    ids: list[str] = []
    for protocol in ("smpp", "cmpp", "smgp"):
        ids += await h.batch([number(protocol, i) for i in range(PER_CHANNEL)], text="stats")
    await h.wait_final(ids, timeout=30)
    return ids


def _outcomes(h: Harness) -> dict[str, collections.Counter[str]]:
    """What the database says: per channel, the count per status and per stored error code."""
    rows = h.read_db(lambda conn: conn.execute(
        select(messages.c.channel, messages.c.status, messages.c.error_code, func.count())
        .group_by(messages.c.channel, messages.c.status, messages.c.error_code)).all())
    found: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for channel, status, code, count in rows:
        found[channel][status] += count
        found[channel][code or "-"] += count
    return found


async def test_stats_by_channel_match_the_receipts(tmp_path: Path, db_url: str | None) -> None:
    options = {name: {"dlr_outcomes": outcomes} for name, outcomes in OUTCOMES.items()}
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, db_url=db_url, sim_options=options) as h:
            await _send_all(h)
            response = await h.call("GET", "/v1/stats?group_by=channel")
            assert response.status_code == 200, response.text
            body = response.json()
            truth = _outcomes(h)
            groups = {g["group"]: g for g in body["groups"]}
            assert set(groups) == set(EXPECTED)
            for channel, group in groups.items():
                db = truth[channel]
                assert group["total"] == PER_CHANNEL and group["pending"] == 0
                assert (group["delivered"], group["failed"], group["expired"]) == \
                    (db["delivered"], db["failed"], db["expired"])
                assert group["delivery_rate"] == round(db["delivered"] / PER_CHANNEL, 4)
                reasons = {r["code"]: r for r in group["reasons"]}
                wanted: collections.Counter[str] = collections.Counter()
                for stat, (reason, raw) in EXPECTED[channel].items():
                    if db[stat]:
                        wanted[reason] += db[stat]
                        assert {"code": raw, "count": db[stat]} in reasons[reason]["raw"], (channel, reasons)
                assert {code: r["count"] for code, r in reasons.items()} == dict(wanted)
            assert body["total"]["total"] == 3 * PER_CHANNEL
            assert 0 < body["total"]["delivered"] < 3 * PER_CHANNEL

            # another key sees none of it, and may not ask for the admin's
            other = h.new_key()
            mine = (await h.call("GET", "/v1/stats?group_by=key", key=other)).json()
            assert mine["groups"] == [] and mine["key"] == other[0]
            refused = await h.call("GET", f"/v1/stats?key={h.key}", key=other)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"
            by_key = (await h.call("GET", "/v1/stats?group_by=key")).json()
            assert [(g["group"], g["total"]) for g in by_key["groups"]] == [(h.key, 3 * PER_CHANNEL)]
            days = (await h.call("GET", "/v1/stats?group_by=day&tz=%2B08:00")).json()
            assert sum(g["total"] for g in days["groups"]) == 3 * PER_CHANNEL and days["tz"] == "+08:00"
            # nothing in an old window
            old = (await h.call("GET", "/v1/stats?from=2024-01-01&to=2024-01-31")).json()
            assert old["groups"] == [] and old["total"]["delivery_rate"] is None
            for query, code in [("group_by=week", "invalid_group_by"), ("from=soon", "invalid_from"),
                                ("tz=Mars", "invalid_tz")]:
                bad = await h.call("GET", f"/v1/stats?{query}")
                assert bad.status_code == 400 and bad.json()["error"]["code"] == code

            spec = (await h.client.get(h.base + "/openapi.json")).json()
            operation = spec["paths"]["/v1/stats"]["get"]
            assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "group_by", "tz", "key"}


def _cli(h: Harness, *args: str) -> list[str]:
    return [sys.executable, "-m", "smsgw.cli", "--url", h.base, *args]


def _env(h: Harness) -> dict[str, str]:
    return {**os.environ, "SMSGW_KEY": h.key, "SMSGW_SECRET": h.secret, "PYTHONPATH": str(Path.cwd())}


async def test_stats_cli(tmp_path: Path) -> None:
    options = {"cmpp": {"dlr_outcomes": (("DELIVRD", 0.5), ("MK:0001", 0.5))}}
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), sim_options=options) as h:
            ids = await h.batch([number("cmpp", i) for i in range(20)], text="cli")
            counts = await h.wait_final(ids)
            done = await trio.run_process(_cli(h, "stats", "--group-by", "channel", "--json"), env=_env(h),
                                          capture_stdout=True, capture_stderr=True, check=False)
            assert done.returncode == 0, done.stderr
            data: dict[str, Any] = json.loads(done.stdout)
            assert data["groups"][0]["group"] == "cmpp-sim"
            assert data["groups"][0]["delivered"] == counts["delivered"]
            done = await trio.run_process(_cli(h, "stats", "--group-by", "channel"), env=_env(h),
                                          capture_stdout=True, capture_stderr=True, check=False)
            assert done.returncode == 0, done.stderr
            out = done.stdout.decode()
            assert "CHANNEL" in out and "cmpp-sim" in out and "TOTAL" in out
            failed = counts["failed"]
            assert re.search(rf"^  empty_number +{failed}  MK:0001 x{failed}$", out, re.M), out
            done = await trio.run_process(_cli(h, "stats", "--from", "someday"), env=_env(h),
                                          capture_stderr=True, check=False)
            assert done.returncode == 1 and b"400 invalid_from" in done.stderr
            done = await trio.run_process(_cli(h, "stats", "--group-by", "week"), env=_env(h),
                                          capture_stderr=True, check=False)
            assert done.returncode == 2
