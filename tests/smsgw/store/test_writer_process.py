"""The writer process (writer_process.py): what happens when it dies or cannot start. The
writer's own behaviour in process mode is covered by test_writer.py's ``process`` variants."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import structlog
from sqlalchemy import Engine, make_url

from smsgw.store.errors import CommitOutcomeUnknown, DatabaseUnavailable
from smsgw.store.writer import Writer
from smsgw.store.writer_process import WriterProcess

from .helpers import message, statuses


def writer_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "smsgw.store.writer_process"],
                         capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


async def test_a_killed_writer_process_loses_one_outcome_and_is_replaced(engine: Engine) -> None:
    async with Writer(engine, process=True) as writer:
        await writer.execute([message(1)])
        [pid] = writer_pids()
        os.kill(pid, signal.SIGKILL)
        with structlog.testing.capture_logs() as logs:
            with pytest.raises(CommitOutcomeUnknown, match="writer process died"):
                await writer.execute([message(2)])
            await writer.execute([message(3)])  # a new child
        assert writer_pids() not in ([], [pid])
    assert "store.writer_process_lost" in [entry["event"] for entry in logs]
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 3}  # 2 was never sent: the child was dead already
    assert writer_pids() == []  # closing the writer ends its process


def test_a_writer_process_that_cannot_open_the_database_says_so() -> None:
    url = make_url("sqlite:////proc/no-such-dir/smsgw.db")
    with pytest.raises(DatabaseUnavailable, match=r"store writer process: .*no-such-dir"), WriterProcess.start(url):
        pass
    assert writer_pids() == []
