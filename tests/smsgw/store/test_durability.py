"""What ``execute`` returned for survives the process being killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from smsgw.store.engine import make_engine
from smsgw.store.schema import messages

ROOT = Path(__file__).resolve().parents[3]

# Commits 50 requests of 20 messages each, says so, then keeps writing until killed.
CHILD = textwrap.dedent("""
    import sys, trio
    from sqlalchemy import insert
    from smsgw.store.engine import make_engine
    from smsgw.store.schema import messages
    from smsgw.store.writer import Writer

    INSERT = insert(messages)

    def row(id):
        return INSERT, {"id": id, "key_id": "k", "to_number": "1", "text": "t", "encoding": "gsm7",
                        "channel": "c", "status": "accepted", "segments": 1, "created_at": 0.0,
                        "expires_at": 0.0}

    async def main():
        async with Writer(make_engine(sys.argv[1]), process=sys.argv[2] == "process") as writer:
            async with trio.open_nursery() as nursery:
                for request in range(50):
                    nursery.start_soon(writer.execute, [row(request * 20 + i) for i in range(20)])
            print("committed", flush=True)
            for id in range(1000, 10**9):
                writer.execute_nowait([row(id)])
                if id % 100 == 0:
                    await writer.execute([row(-id)])

    trio.run(main)
""")


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_rows_acknowledged_before_sigkill_are_there_after(db_url: str, mode: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, mode], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "committed\n"
        writers = children(child.pid)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert len(writers) == (mode == "process")
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in writers):  # the writer process ends with its daemon
        assert time.monotonic() < deadline, "the writer process outlived the killed daemon"
        time.sleep(0.05)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            acknowledged = select(func.count()).select_from(messages).where(messages.c.id.between(0, 999))
            assert conn.execute(acknowledged).scalar_one() == 1000
    finally:
        engine.dispose()


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
