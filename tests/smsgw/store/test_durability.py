"""What ``execute`` returned for survives the process being killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

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
        async with Writer(make_engine(sys.argv[1])) as writer:
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


def test_rows_acknowledged_before_sigkill_are_there_after(db_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "committed\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            acknowledged = select(func.count()).select_from(messages).where(messages.c.id.between(0, 999))
            assert conn.execute(acknowledged).scalar_one() == 1000
    finally:
        engine.dispose()
