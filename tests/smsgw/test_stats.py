"""GET /v1/stats queries on hand-inserted messages (SQLite, and PostgreSQL when configured):
grouping, windows, key scoping, rates and reasons with their raw codes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from smsgw.stats import BadParameter, StatsQuery, build_query, first_id_at, parse_time, parse_tz, stats
from smsgw.store.schema import messages, segments

DAY1 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp()  # a Wednesday, 00:00 UTC
PROTOCOLS = {"cm": "cmpp3", "sg": "smgp", "sp": "smpp"}


class Rows:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.segments: list[dict[str, Any]] = []
        self.seq = 0

    def add(self, at: float, status: str, *, channel: str = "cm", key: str = "k1", template: str | None = "t1",
            batch: int | None = None, code: str | None = None, parts: list[tuple[str, str | None, str | None]]
            | None = None) -> None:
        """One message created at ``at`` with segments given as (status, stat, err)."""
        self.seq += 1
        message_id = first_id_at(at) + self.seq
        parts = parts or [(status if status in ("delivered", "failed", "expired") else "accepted", None, None)]
        self.messages.append({
            "id": message_id, "key_id": key, "client_ref": None, "batch_id": batch, "to_number": "13800138000",
            "text": "x", "encoding": "ascii", "channel": channel, "status": status, "segments": len(parts),
            "error_code": code, "error_message": None, "callback_url": None, "template_id": template,
            "signature": None, "created_at": at, "submitted_at": None, "done_at": None, "expires_at": at + 3600})
        for idx, (seg_status, stat, err) in enumerate(parts, 1):
            self.segments.append({"message_id": message_id, "idx": idx, "channel": channel, "status": seg_status,
                                  "smsc_id": None, "smsc_key": None, "stat": stat, "err": err, "attempts": 1,
                                  "submitted_at": None, "done_at": None})

    def write(self, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(insert(messages), self.messages)
            conn.execute(insert(segments), self.segments)


def run(engine: Engine, query: StatsQuery) -> dict[str, Any]:
    with engine.connect() as conn:
        return stats(conn, query, PROTOCOLS)


@pytest.fixture
def sample(engine: Engine) -> Engine:
    rows = Rows()
    t = DAY1 + 3600
    for _ in range(6):
        rows.add(t, "delivered", parts=[("delivered", "DELIVRD", "000")])
    rows.add(t, "failed", code="MK:0001", parts=[("failed", "MK:0001", "")])
    rows.add(t, "failed", code="MK:0001", parts=[("failed", "MK:0001", "")])
    rows.add(t, "failed", code="DB:0141", parts=[("delivered", "DELIVRD", ""), ("failed", "DB:0141", "")])
    rows.add(t, "failed", code="13", parts=[("failed", None, "13")])  # CMPP submit refused
    rows.add(t, "expired", code="no_receipt", parts=[("submitted", None, None)])
    rows.add(t, "submitted", parts=[("submitted", None, None)])
    rows.add(t, "accepted")
    # next day, another channel and key
    t2 = DAY1 + 86400 + 60
    rows.add(t2, "delivered", channel="sg", key="k2", template=None, batch=7, parts=[("delivered", "DELIVRD", "000")])
    rows.add(t2, "failed", channel="sg", key="k2", template=None, batch=7, code="UNDELIV",
             parts=[("failed", "UNDELIV", "004")])
    rows.add(t2, "failed", channel="sp", key="k2", code="0x00000058", parts=[("failed", None, "0x00000058")])
    # outside the window
    rows.add(DAY1 - 1, "delivered", parts=[("delivered", "DELIVRD", "000")])
    rows.add(DAY1 + 3 * 86400, "failed", code="MK:0001", parts=[("failed", "MK:0001", "")])
    rows.write(engine)
    return engine


def window(group_by: str, key: str | None = None, tz: int = 0) -> StatsQuery:
    return StatsQuery(DAY1, DAY1 + 2 * 86400, group_by, key, tz)


def test_by_channel_counts_rates_and_reasons(sample: Engine) -> None:
    found = run(sample, window("channel"))
    groups = {g["group"]: g for g in found["groups"]}
    assert list(groups) == ["cm", "sg", "sp"]
    cm = groups["cm"]
    assert (cm["total"], cm["submitted"], cm["delivered"], cm["failed"], cm["expired"], cm["pending"]) == \
        (13, 12, 6, 4, 1, 2)
    assert cm["delivery_rate"] == round(6 / 11, 4)
    reasons = {r["code"]: r for r in cm["reasons"]}
    assert reasons["empty_number"]["count"] == 3  # MK:0001 twice, CMPP Result 13
    assert reasons["empty_number"]["raw"] == [{"code": "MK:0001", "count": 2}, {"code": "13", "count": 1}]
    assert reasons["blocked"]["raw"] == [{"code": "DB:0141", "count": 1}]  # the failed segment, not the first
    assert reasons["expired"]["raw"] == [{"code": "no_receipt", "count": 1}]
    assert cm["reasons"][0]["code"] == "empty_number"  # most frequent first
    assert {r["code"] for r in groups["sg"]["reasons"]} == {"empty_number"}  # SMGP err 004
    assert groups["sg"]["reasons"][0]["raw"] == [{"code": "UNDELIV err:004", "count": 1}]
    assert groups["sp"]["reasons"][0]["code"] == "throttled"
    total = found["total"]
    assert (total["total"], total["delivered"], total["failed"]) == (16, 7, 6)
    assert sum(r["count"] for r in total["reasons"]) == total["failed"] + total["expired"] + total["rejected"]


def test_by_day_in_utc_and_in_a_timezone(sample: Engine) -> None:
    found = run(sample, window("day"))
    assert [(g["group"], g["total"]) for g in found["groups"]] == [("2024-05-01", 13), ("2024-05-02", 3)]
    # at -02:00 the 01:00 UTC messages belong to April 30
    shifted = run(sample, window("day", tz=-7200))
    assert [(g["group"], g["total"]) for g in shifted["groups"]] == [("2024-04-30", 13), ("2024-05-01", 3)]
    assert shifted["tz"] == "-02:00"


def test_by_template_batch_and_key(sample: Engine) -> None:
    assert [(g["group"], g["total"]) for g in run(sample, window("template"))["groups"]] == \
        [("t1", 14), (None, 2)]
    assert [(g["group"], g["total"]) for g in run(sample, window("batch"))["groups"]] == [("7", 2), (None, 14)]
    assert [(g["group"], g["total"]) for g in run(sample, window("key"))["groups"]] == [("k1", 13), ("k2", 3)]


def test_key_scope(sample: Engine) -> None:
    found = run(sample, window("key", key="k2"))
    assert [(g["group"], g["total"]) for g in found["groups"]] == [("k2", 3)]
    assert found["total"]["delivery_rate"] == round(1 / 3, 4)
    assert run(sample, window("channel", key="nobody"))["groups"] == []


def test_empty_window(engine: Engine) -> None:
    found = run(engine, window("channel"))
    assert found["groups"] == [] and found["total"]["total"] == 0 and found["total"]["delivery_rate"] is None


def test_build_query_defaults_and_scoping() -> None:
    now = DAY1 + 12345.5
    query = build_query({}, now=now, key_id="k1", admin=False)
    assert (query.start, query.end, query.group_by, query.key_id) == (now - 7 * 86400, now, "day", "k1")
    assert build_query({}, now=now, key_id="adm", admin=True).key_id is None
    assert build_query({"key": "k9"}, now=now, key_id="adm", admin=True).key_id == "k9"
    assert build_query({"key": "k1"}, now=now, key_id="k1", admin=False).key_id == "k1"
    with pytest.raises(PermissionError):
        build_query({"key": "k2"}, now=now, key_id="k1", admin=False)
    query = build_query({"from": "2024-05-01", "to": "2024-05-02", "tz": "+08:00"}, now=now, key_id="k", admin=False)
    assert query.start == DAY1 - 8 * 3600 and query.end == DAY1 + 86400 + 16 * 3600  # the whole of May 2
    for params, field in [({"group_by": "week"}, "group_by"), ({"from": "yesterday"}, "from"),
                          ({"to": "nan"}, "to"), ({"tz": "Asia/Shanghai"}, "tz"), ({"tz": "+15:00"}, "tz"),
                          ({"from": "2024-05-02", "to": "2024-05-01"}, "from")]:
        with pytest.raises(BadParameter) as caught:
            build_query(params, now=now, key_id="k", admin=False)
        assert caught.value.field == field


def test_time_formats() -> None:
    assert parse_time("1714521600", "from", 0) == DAY1
    assert parse_time("2024-05-01T08:00:00+08:00", "from", 0) == DAY1
    assert parse_time("2024-05-01T08:00:00", "from", 8 * 3600) == DAY1
    assert parse_time("2024-05-01T00:00:00Z", "from", 0) == DAY1
    assert parse_tz("+0530") == 5 * 3600 + 1800 and parse_tz("-5") == -5 * 3600 and parse_tz("utc") == 0


def test_held_batch_messages_are_pending(engine: Engine) -> None:
    # a paused or scheduled batch's messages are "held": not yet sent, so pending
    rows = Rows()
    rows.add(DAY1 + 60, "held", batch=3)
    rows.add(DAY1 + 60, "accepted", batch=3)
    rows.write(engine)
    group = run(engine, window("batch"))["groups"][0]
    assert (group["total"], group["pending"]) == (2, 2)
