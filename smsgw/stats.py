"""Delivery statistics (GET /v1/stats, ``smsgw stats``): counts per group and failure reasons.

Two GROUP BY queries over ``messages`` of the time window: counts per (group, status), and for
the messages that did not arrive (failed, expired, rejected) counts per (group, status,
error_code, channel) with the stat/err of the message's first failed segment, which
``smsgw.taxonomy`` turns into reasons (SMGP's err, for one, is only on the segment). The
failed segment is found by its primary key (message_id, idx), so the join costs one index
probe per failed message, not a scan of ``segments``.

The window is on ``created_at`` (when the gateway accepted the message). Message ids are
time-sortable (``smsgw.store.ids``), so the window is also turned into an id range and the
primary key bounds the scan: no index on ``created_at`` is needed. The id range is widened by
``ID_SLACK`` on both sides because an id's clock may run a little ahead of ``created_at``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, and_, cast, func, literal_column, select

from .store.ids import first_id_at
from .store.schema import messages, segments
from .taxonomy import REASONS, classify, raw_code

GROUPS = ("channel", "template", "batch", "key", "day")
NOT_ARRIVED = ("failed", "expired", "rejected")
PENDING = ("held", "accepted", "submitted")  # held: a paused or scheduled batch's, not yet sent
DEFAULT_DAYS = 7
ID_SLACK = 3600.0  # seconds
TOP_RAW = 5
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class StatsQuery:
    start: float  # unix seconds, inclusive
    end: float  # unix seconds, exclusive
    group_by: str  # one of GROUPS
    key_id: str | None  # only this key's messages; None: every key
    tz_offset: int = 0  # seconds east of UTC, for day grouping


class BadParameter(ValueError):
    """A query parameter that cannot be understood; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


_TZ = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?")


def parse_tz(value: str | None) -> int:
    """``UTC``/``Z``/``+08:00``/``+0800``/``-5`` -> seconds east of UTC."""
    if value is None or value.strip().upper() in ("", "UTC", "Z"):
        return 0
    match = _TZ.fullmatch(value.strip())
    if match is None:
        raise BadParameter("tz", f"\"tz\" must be a UTC offset such as +08:00 or UTC, not {value!r}")
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes > 59 or hours * 60 + minutes > 14 * 60:
        raise BadParameter("tz", f"\"tz\" must be within ±14:00, not {value!r}")
    seconds = hours * 3600 + minutes * 60
    return -seconds if match.group(1) == "-" else seconds


def parse_time(value: str, field: str, tz_offset: int, *, end: bool = False) -> float:
    """Unix seconds, an ISO date (in ``tz_offset``; as an ``end`` the whole day is included) or
    an ISO date-time (naive ones in ``tz_offset``)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number != number or not 0 <= number < 1e11:
            raise BadParameter(field, f"\"{field}\" is out of range: {value!r}")
        return number
    zone = dt.timezone(dt.timedelta(seconds=tz_offset))
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            return (start + dt.timedelta(days=1) if end else start).timestamp()
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(field, f"\"{field}\" must be unix seconds or an ISO date/date-time "
                                  f"(e.g. 2024-05-01 or 2024-05-01T08:00:00+08:00), not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def parse_bounds(params: Mapping[str, str], tz_offset: int = 0) -> tuple[float | None, float | None]:
    """The ``from`` (inclusive) and ``to`` (exclusive) of a listing's time window, each None when
    absent; the one reading of them for every route (a bound no time can meet, such as nan, is
    refused, not answered with an empty list)."""
    end = parse_time(params["to"], "to", tz_offset, end=True) if params.get("to") else None
    start = parse_time(params["from"], "from", tz_offset) if params.get("from") else None
    _check_order(start, end)
    return start, end


def _check_order(start: float | None, end: float | None) -> None:
    if start is not None and end is not None and start >= end:
        raise BadParameter("from", "\"from\" must be before \"to\"")


def build_query(params: Mapping[str, str], *, now: float, key_id: str, admin: bool) -> StatsQuery:
    """The query a caller asked for. Keys see their own messages; an admin sees all of them, or
    one key's with ``key=``. Raises BadParameter, or PermissionError for another key's."""
    group_by = params.get("group_by") or "day"
    if group_by not in GROUPS:
        raise BadParameter("group_by", f"\"group_by\" must be one of {', '.join(GROUPS)}, not {group_by!r}")
    tz_offset = parse_tz(params.get("tz"))
    start, end = parse_bounds(params, tz_offset)
    end = now if end is None else end
    start = end - DEFAULT_DAYS * _DAY if start is None else start
    _check_order(start, end)  # a ``from`` after now, without ``to``
    wanted = params.get("key") or None
    if not admin and wanted is not None and wanted != key_id:
        raise PermissionError("only an admin key may read another key's statistics")
    return StatsQuery(start, end, group_by, wanted if admin else key_id, tz_offset)


def _group_column(conn: Connection, query: StatsQuery) -> ColumnElement[Any]:
    m = messages.c
    if query.group_by == "channel":
        return m.channel
    if query.group_by == "template":
        return m.template_id
    if query.group_by == "batch":
        return m.batch_id
    if query.group_by == "key":
        return m.key_id
    # literals, not parameters: PostgreSQL must see the same expression in SELECT and GROUP BY
    shifted = (m.created_at + literal_column(str(int(query.tz_offset)))) / literal_column(str(_DAY))
    if conn.dialect.name == "sqlite":
        return cast(shifted, BigInteger)  # truncation is floor for the positive times stored
    return cast(func.floor(shifted), BigInteger)


def _window(query: StatsQuery) -> ColumnElement[bool]:
    m = messages.c
    conditions = [
        m.id >= first_id_at(query.start - ID_SLACK), m.id < first_id_at(query.end + ID_SLACK),
        m.created_at >= query.start, m.created_at < query.end,
    ]
    if query.key_id is not None:
        conditions.append(m.key_id == query.key_id)
    return and_(*conditions)


def stats(conn: Connection, query: StatsQuery, protocols: Mapping[str, str]) -> dict[str, Any]:
    """The statistics document of GET /v1/stats. ``protocols`` maps channel names to their
    protocol (bare submit codes mean different things per protocol)."""
    m, s = messages.c, segments.c
    group = _group_column(conn, query).label("grp")
    window = _window(query)
    groups: dict[Any, _Group] = {}
    for value, status, count in conn.execute(
        select(group, m.status, func.count()).where(window).group_by(group, m.status)
    ):
        groups.setdefault(value, _Group()).statuses[status] += count
    first_failed = (
        select(func.min(segments.c.idx)).where(and_(segments.c.message_id == m.id, segments.c.status == "failed"))
        .correlate(messages).scalar_subquery()
    )
    failures = (
        select(group, m.status, m.error_code, m.channel, s.stat, s.err, func.count())
        .select_from(messages.outerjoin(segments, and_(s.message_id == m.id, s.idx == first_failed)))
        .where(and_(window, m.status.in_(NOT_ARRIVED)))
        .group_by(group, m.status, m.error_code, m.channel, s.stat, s.err)
    )
    for value, status, error_code, channel, stat, err, count in conn.execute(failures):
        reason = classify(status, error_code, stat, err, protocols.get(channel))
        groups.setdefault(value, _Group()).add_failure(reason.code, raw_code(error_code, stat, err), count)
    total = _Group()
    for item in groups.values():
        total.merge(item)
    keyed = sorted(groups.items(), key=lambda pair: (pair[0] is None, pair[0] if pair[0] is not None else 0)
                   if query.group_by in ("day", "batch") else (pair[0] is None, str(pair[0])))
    zone = dt.timezone(dt.timedelta(seconds=query.tz_offset))
    return {
        "from": _iso(query.start, zone), "to": _iso(query.end, zone), "group_by": query.group_by,
        "tz": _tz_name(query.tz_offset), "key": query.key_id,
        "groups": [{"group": _group_name(value, query.group_by), **item.document()} for value, item in keyed],
        "total": total.document(),
    }


class _Group:
    """Counts of one group: messages per status, not-arrived messages per reason and raw code."""

    __slots__ = ("statuses", "reasons", "raw")

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.raw: dict[str, Counter[str]] = {}

    def add_failure(self, reason: str, raw: str, count: int) -> None:
        self.reasons[reason] += count
        self.raw.setdefault(reason, Counter())[raw] += count

    def merge(self, other: _Group) -> None:
        self.statuses.update(other.statuses)
        for reason, raws in other.raw.items():
            for raw, count in raws.items():
                self.add_failure(reason, raw, count)

    def document(self) -> dict[str, Any]:
        st = self.statuses
        delivered, failed, expired = st["delivered"], st["failed"], st["expired"]
        final = delivered + failed + expired
        return {
            "total": sum(st.values()),
            "submitted": st["submitted"] + final,
            "delivered": delivered, "failed": failed, "expired": expired, "rejected": st["rejected"],
            "pending": sum(st[name] for name in PENDING),
            "delivery_rate": round(delivered / final, 4) if final else None,
            "reasons": [
                {"code": code, "text": REASONS[code], "count": count,
                 "raw": [{"code": raw, "count": n} for raw, n in self.raw[code].most_common(TOP_RAW)]}
                for code, count in sorted(self.reasons.items(), key=lambda pair: (-pair[1], pair[0]))
            ],
        }


def _group_name(value: Any, group_by: str) -> str | None:
    if value is None:
        return None
    if group_by == "day":
        return (dt.date(1970, 1, 1) + dt.timedelta(days=int(value))).isoformat()
    return str(value)


def _iso(unix_seconds: float, zone: dt.timezone) -> str:
    return dt.datetime.fromtimestamp(unix_seconds, zone).isoformat(timespec="seconds")


def _tz_name(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    minutes = abs(offset) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
