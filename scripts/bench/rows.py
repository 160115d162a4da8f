"""What the database work of one message costs by itself (issue 4; a benchmark, not a test):
its seven row writes (insert message and segment; the submitted marks of both; their final
states; the report row) replayed through the store's Executor on a fresh SQLite file, in
transactions of 500 messages' ops grouped by statement as the writer groups them, with the
submitted marks two transactions and the finals four transactions after the inserts (as
receipts lag submits). Prints CPU µs per message in total and per statement.

    .venv/bin/python scripts/bench/rows.py [--messages N]

The floor for the writer, thread or process: at 20,000 msg/s these writes alone need
20,000 x this many µs of one core.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from smsgw import queries as q
from smsgw.store.engine import make_engine
from smsgw.store.executor import Executor, Op, connect
from smsgw.store.migrate import upgrade

CHUNK = 500
NOW = time.time()


def accepted(i: int) -> list[Op]:
    return [
        (q.INSERT_MESSAGE, {"id": i, "key_id": "k1", "client_ref": None, "batch_id": 7, "to_number": f"138{i:08d}",
                            "text": "您的验证码是482913，5分钟内有效。", "encoding": "auto", "channel": "bench",
                            "status": "accepted", "segments": 1, "error_code": None, "error_message": None,
                            "callback_url": None, "template_id": "t", "signature": "s", "created_at": NOW,
                            "submitted_at": None, "done_at": None, "expires_at": NOW + 3600}),
        (q.INSERT_SEGMENT, {"message_id": i, "idx": 1, "channel": "bench", "status": "accepted", "smsc_id": None,
                            "smsc_key": None, "stat": None, "err": None, "attempts": 0, "submitted_at": None,
                            "done_at": None}),
    ]


def submitted(i: int) -> list[Op]:
    key = f"{random.getrandbits(64):016x}"
    return [(q.SEGMENT_SUBMITTED, {"m_id": i, "m_idx": 1, "smsc_id": key, "smsc_key": key, "at": NOW, "tries": 1}),
            (q.MESSAGE_SUBMITTED, {"m_id": i, "at": NOW})]


def final(i: int) -> list[Op]:
    return [(q.SEGMENT_FINAL, {"m_id": i, "m_idx": 1, "st": "delivered", "r_stat": "DELIVRD", "r_err": "000",
                               "at": NOW}),
            (q.MESSAGE_FINAL, {"m_id": i, "st": "delivered", "code": None, "reason": None, "at": NOW}),
            (q.INSERT_REPORT, {"message_id": i, "key_id": "k1", "to_number": "1", "client_ref": None,
                               "status": "delivered", "stat": "DELIVRD", "err": "000", "done_at": NOW})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    n = parser.parse_args().messages
    url = f"sqlite:///{tempfile.mkdtemp(prefix='smsgw-rows-')}/rows.db"
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    per_statement: dict[str, float] = {}
    started: list[float] = [0.0]

    @event.listens_for(engine, "before_cursor_execute")
    def before(*_: Any) -> None:
        started[0] = time.process_time()

    @event.listens_for(engine, "after_cursor_execute")
    def after(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        name = " ".join(sql.split()[:3])
        per_statement[name] = per_statement.get(name, 0.0) + time.process_time() - started[0]

    stages: list[tuple[int, Callable[[int], list[Op]]]] = [(0, accepted), (2, submitted), (4, final)]
    executor = Executor(connect(engine))
    cpu = time.process_time()
    for chunk in range(0, n + 4 * CHUNK, CHUNK):
        groups: dict[Any, list[Op]] = {}
        for lag, ops_of in stages:
            start = chunk - lag * CHUNK
            for i in range(max(0, start), min(n, start + CHUNK)):
                for op in ops_of(i):
                    groups.setdefault(op[0], []).append(op)
        if groups:
            executor.transaction([op for group in groups.values() for op in group])
    total = time.process_time() - cpu
    print(json.dumps({"messages": n, "cpu_us_per_message": round(total / n * 1e6, 1),
                      "statements_us_per_message": {name: round(s / n * 1e6, 1) for name, s in
                                                    sorted(per_statement.items(), key=lambda kv: -kv[1])}},
                     ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
