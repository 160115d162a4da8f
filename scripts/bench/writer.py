"""The daemon's CPU per message for the store writer's path in process mode (issue 4; a benchmark,
not a test): a message's seven ops (scripts/bench/rows.py) pushed through the real Store with
``writer_process=True`` on a fresh SQLite file — intake requests of ``--per-request`` messages
(one, as intake.py) awaited, the submitted marks and finals queued with ``execute_nowait`` in chunks as dispatch does.
Prints the daemon process's CPU µs per message (all its threads, not the child's).

    .venv/bin/python scripts/bench/writer.py [--messages N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).parent))
from rows import accepted, final, submitted

from smsgw.store.executor import Op
from smsgw.store.migrate import upgrade
from smsgw.store.store import open_store


def grouped(ops_of: Callable[[int], list[Op]], ids: range) -> list[Op]:
    """The ops of ``ids`` grouped by statement, as dispatch.py's op lists are."""
    groups: dict[Any, list[Op]] = {}
    for i in ids:
        for op in ops_of(i):
            groups.setdefault(op[0], []).append(op)
    return [op for group in groups.values() for op in group]


async def run(n: int, per_request: int, chunk: int) -> float:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='smsgw-wbench-')}/w.db"
    upgrade(url)
    async with open_store(url, writer_process=True) as store:
        # the ops are made beforehand: only the store's own CPU is measured
        intake = [[op for i in range(s, min(n, s + per_request)) for op in accepted(i)]
                  for s in range(0, n, per_request)]
        marks = [grouped(submitted, range(s, min(n, s + chunk))) for s in range(0, n, chunk)]
        finals = [grouped(final, range(s, min(n, s + chunk))) for s in range(0, n, chunk)]
        requests_per_chunk = max(1, chunk // per_request)
        cpu = time.process_time()
        for c in range(len(marks) + 2):
            async with trio.open_nursery() as nursery:
                for ops in intake[c * requests_per_chunk:(c + 1) * requests_per_chunk]:
                    nursery.start_soon(store.execute, ops)
                if 1 <= c <= len(marks):
                    store.execute_nowait(marks[c - 1])
                if c >= 2:
                    store.execute_nowait(finals[c - 2])
        await store.execute([(intake[0][0][0], {**intake[0][0][1], "id": n + 1})])  # after everything queued
        return time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--per-request", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=200)
    args = parser.parse_args()
    seconds = trio.run(run, args.messages, args.per_request, args.chunk)
    print(json.dumps({"messages": args.messages, "daemon_cpu_us_per_message": round(seconds / args.messages * 1e6, 2)}))


if __name__ == "__main__":
    main()
