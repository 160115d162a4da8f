"""Rows, statements and a write-lock holder shared by the store tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update

from smsgw.store.engine import BEGIN_IMMEDIATE
from smsgw.store.schema import messages, segments
from smsgw.store.writer import Op, Writer

INSERT_MESSAGE = insert(messages)
INSERT_SEGMENT = insert(segments)
SET_MESSAGE_STATUS = (
    update(messages).where(messages.c.id == bindparam("b_id")).values(status=bindparam("b_status"))
)


def message(id: int, *, client_ref: str | None = None, status: str = "accepted") -> Op:
    return INSERT_MESSAGE, {
        "id": id, "key_id": "key", "client_ref": client_ref, "to_number": "8613800000000",
        "text": "hello", "encoding": "gsm7", "channel": "cmcc", "status": status, "segments": 1,
        "created_at": 1.0, "expires_at": 2.0,
    }


def segment(message_id: int, idx: int = 0) -> Op:
    return INSERT_SEGMENT, {"message_id": message_id, "idx": idx, "channel": "cmcc", "status": "accepted"}


def set_status(id: int, status: str) -> Op:
    return SET_MESSAGE_STATUS, {"b_id": id, "b_status": status}


def count(conn: Connection, table: Any = messages) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def statuses(conn: Connection) -> dict[int, str]:
    return {id: status for id, status in conn.execute(select(messages.c.id, messages.c.status))}


@contextmanager
def write_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's write lock from another connection (SQLite: the file's
    RESERVED lock; PostgreSQL: the messages and segments tables) until the block exits."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(**{BEGIN_IMMEDIATE: True})
            with conn.begin():
                yield
        else:
            with conn.begin():
                conn.execute(text("LOCK TABLE messages, segments IN EXCLUSIVE MODE"))
                yield


async def wait_taken(writer: Writer) -> None:
    """Until the writer thread has taken everything queued into its current batch."""
    with trio.fail_after(5):
        while writer.stats.pending_ops:
            await trio.sleep(0.005)


def writer_pids() -> list[int]:
    """The pids of this process's writer processes (writer_child.py)."""
    out = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "smsgw.store.writer_child"],
                         capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]
