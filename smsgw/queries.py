"""The SQL of the daemon: prepared write statements (reused objects, so the group-commit
writer can batch them into executemany) and read functions run in reader threads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from .store.schema import (
    callbacks,
    messages,
    mo_messages,
    mo_parts,
    reports,
    segments,
    unmatched_reports,
)
from .store.writer import NEW_ROWS

FINAL_MESSAGE = ("delivered", "failed", "expired", "rejected")

# accepting a message only adds rows: concurrent POSTs' inserts share one executemany per table
INSERT_MESSAGE = insert(messages).execution_options(**{NEW_ROWS: True})
INSERT_SEGMENT = insert(segments).execution_options(**{NEW_ROWS: True})
INSERT_REPORT = insert(reports)
INSERT_CALLBACK = insert(callbacks)
INSERT_UNMATCHED = insert(unmatched_reports)
INSERT_MO = insert(mo_messages)
INSERT_MO_PART = insert(mo_parts)



def word(value: str) -> ColumnElement[str]:
    """A constant status word written into the SQL rather than bound: the store writer then
    passes each row's own values straight to the driver, with no constants to merge in
    (three of the seven writes of every message carry such words), and an IN of such words
    can be batched (an expanding IN cannot)."""
    assert value.isalpha()
    return literal_column(f"'{value}'")


SEGMENT_SUBMITTED = (
    update(segments)
    .where(and_(segments.c.message_id == bindparam("m_id"), segments.c.idx == bindparam("m_idx")))
    # never downgrade a segment a receipt already made final (the writes of both may be reordered)
    .values(status=case((segments.c.status == word("accepted"), word("submitted")), else_=segments.c.status),
            smsc_id=bindparam("smsc_id"), smsc_key=bindparam("smsc_key"),
            submitted_at=bindparam("at"), attempts=bindparam("tries"))
)
SEGMENT_FINAL = (
    update(segments)
    .where(and_(segments.c.message_id == bindparam("m_id"), segments.c.idx == bindparam("m_idx")))
    .values(status=bindparam("st"), stat=bindparam("r_stat"), err=bindparam("r_err"), done_at=bindparam("at"))
)
MESSAGE_SUBMITTED = (
    update(messages)
    # "held": the message's batch was paused while this submit was in flight; it did go out
    .where(and_(messages.c.id == bindparam("m_id"),
                or_(messages.c.status == word("accepted"), messages.c.status == word("held"))))
    .values(status=word("submitted"), submitted_at=bindparam("at"))
)
MESSAGE_FINAL = (
    update(messages)
    # or_ rather than in_: an expanding IN is re-rendered per execute and refused by executemany
    .where(and_(messages.c.id == bindparam("m_id"),
                or_(messages.c.status == word("accepted"), messages.c.status == word("submitted"),
                    messages.c.status == word("held"))))
    .values(status=bindparam("st"), error_code=bindparam("code"), error_message=bindparam("reason"),
            done_at=bindparam("at"))
)
UNMATCHED_MATCHED = (
    update(unmatched_reports)
    .where(and_(unmatched_reports.c.channel == bindparam("ch"), unmatched_reports.c.smsc_key == bindparam("key"),
                unmatched_reports.c.matched_message_id.is_(None)))
    .values(matched_message_id=bindparam("m_id"))
)
#: a no-op write: once it has committed, every write queued before it has too
BARRIER = select(literal(1))
#: one part: a deliver the operator sends again (it missed our response) replaces its row
DELETE_MO_PART = delete(mo_parts).where(
    and_(mo_parts.c.channel == bindparam("ch"), mo_parts.c.from_number == bindparam("src"),
         mo_parts.c.to_number == bindparam("dst"), mo_parts.c.reference == bindparam("ref"),
         mo_parts.c.total == bindparam("tot"), mo_parts.c.idx == bindparam("idx"))
)
#: the parts of one long MO, once it is stored whole (or flushed incomplete)
DELETE_MO_PARTS = delete(mo_parts).where(
    and_(mo_parts.c.channel == bindparam("ch"), mo_parts.c.from_number == bindparam("src"),
         mo_parts.c.to_number == bindparam("dst"), mo_parts.c.reference == bindparam("ref"),
         mo_parts.c.total == bindparam("tot"))
)


@dataclass(slots=True)
class QueuedMessage:
    """An accepted message as the feeder loads it for sending."""

    id: int
    key_id: str
    to: str
    text: str
    segments: int
    client_ref: str | None
    callback_url: str | None
    expires_at: float
    done: Mapping[int, str]  # status of each segment already submitted or final, by index
    batch_id: int | None = None


@dataclass(slots=True)
class SentSegment:
    """A submitted segment found by its operator id, with its message's state."""

    message_id: int
    idx: int
    key_id: str
    to: str
    client_ref: str | None
    callback_url: str | None
    message_status: str
    statuses: list[str]  # of every segment, by index
    submitted_at: float | None  # of this segment


NOTHING_DONE: Mapping[int, str] = MappingProxyType({})  # shared by the rows of single messages


def page_accepted(conn: Connection, channel: str, after: int, limit: int, batch_id: int | None = None,
                  upto: int | None = None) -> list[QueuedMessage]:
    """The next ``accepted`` messages of ``channel`` after id ``after``; with ``batch_id``, only that
    batch's up to id ``upto`` (a batch started or resumed: its rows behind the feeder's cursor)."""
    m = messages.c
    where = [m.channel == channel, m.status == "accepted", m.id > after]
    if batch_id is not None:
        where += [m.batch_id == batch_id, m.id <= (upto if upto is not None else after)]
    rows = conn.execute(
        select(m.id, m.key_id, m.to_number, m.text, m.segments, m.client_ref, m.callback_url, m.expires_at,
               m.batch_id)
        .where(and_(*where))
        .order_by(m.id)
        .limit(limit)
    ).all()
    multi = [row[0] for row in rows if row[4] > 1]
    done: dict[int, dict[int, str]] = {}
    if multi:
        s = segments.c
        for message_id, idx, status in conn.execute(
            select(s.message_id, s.idx, s.status).where(and_(s.message_id.in_(multi), s.status != "accepted"))
        ):
            done.setdefault(message_id, {})[idx] = status
    # unpacking the row (faster than Row attributes): the first columns are QueuedMessage's fields in order
    return [QueuedMessage(*row[:8], done.get(row[0], NOTHING_DONE), row[8]) for row in rows]


def find_sent(conn: Connection, channel: str, keys: Sequence[str]) -> dict[str, SentSegment]:
    """Submitted segments of ``channel`` by normalised operator id."""
    s, m = segments.c, messages.c
    found: dict[str, SentSegment] = {}
    rows = conn.execute(
        select(s.smsc_key, s.message_id, s.idx, m.key_id, m.to_number, m.client_ref, m.callback_url, m.status,
               s.submitted_at)
        .join_from(segments, messages, m.id == s.message_id)
        .where(and_(s.channel == channel, s.smsc_key.in_(list(keys))))
    ).all()
    if not rows:
        return found
    statuses: dict[int, list[str]] = {}
    ids = list({row.message_id for row in rows})
    for message_id, status in conn.execute(
        select(s.message_id, s.status).where(s.message_id.in_(ids)).order_by(s.message_id, s.idx)
    ):
        statuses.setdefault(message_id, []).append(status)
    for row in rows:
        found[row.smsc_key] = SentSegment(row.message_id, row.idx, row.key_id, row.to_number, row.client_ref,
                                          row.callback_url, row.status, statuses[row.message_id], row.submitted_at)
    return found


def expired(conn: Connection, now: float, limit: int) -> list[Any]:
    """Messages not final whose validity ended before ``now``, with ``sent``: whether any part of
    theirs went to the operator (a long message may be ``accepted`` with some parts sent)."""
    m, s = messages.c, segments.c
    sent = exists().where(and_(s.message_id == m.id, s.status != "accepted"))
    return list(
        conn.execute(
            select(m.id, m.key_id, m.to_number, m.client_ref, m.callback_url, m.status, sent.label("sent"))
            .where(and_(m.status.in_(("accepted", "submitted")), m.expires_at < now))
            .order_by(m.expires_at)
            .limit(limit)
        ).all()
    )


def pending_mo_parts(conn: Connection) -> list[Any]:
    return list(conn.execute(select(mo_parts).order_by(mo_parts.c.received_at)).all())


def unmatched_since(conn: Connection, since: float, limit: int) -> list[Any]:
    """The newest ``limit`` receipts still unmatched since ``since``, newest first."""
    u = unmatched_reports.c
    return list(
        conn.execute(
            select(u.channel, u.smsc_id, u.smsc_key, u.stat, u.err, u.received_at)
            .where(and_(u.matched_message_id.is_(None), u.received_at >= since))
            .order_by(u.id.desc())
            .limit(limit)
        ).all()
    )


def max_message_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(messages.c.id), 0))).scalar_one())

