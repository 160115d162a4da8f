"""Store write throughput through the group-commit writer, many concurrent trio callers.

Measures, on a fresh database per backend:
  insert            one request = 1 messages row + 1 segments row (what POST /v1/messages does)
  insert_unbatched  the same with max_batch_ops=2: one COMMIT per request, the baseline
  update            one request = 1 segment status update (what a delivery receipt does)

Usage: .venv/bin/python scripts/bench/store.py [--messages N] [--callers N] [--pg-url URL]
Prints one JSON object per backend.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio
from sqlalchemy import Engine, bindparam, create_engine, insert, make_url, text, update

from smsgw.store.engine import make_engine
from smsgw.store.ids import IdGenerator
from smsgw.store.migrate import upgrade
from smsgw.store.schema import messages, segments
from smsgw.store.writer import Op, Writer

INSERT_MESSAGE = insert(messages)
INSERT_SEGMENT = insert(segments)
SET_SEGMENT_STATUS = (
    update(segments)
    .where(segments.c.message_id == bindparam("b_id"), segments.c.idx == 0)
    .values(status=bindparam("b_status"), stat=bindparam("b_stat"), done_at=bindparam("b_done"))
)


def new_message(id: int) -> list[Op]:
    now = time.time()
    return [
        (INSERT_MESSAGE, {
            "id": id, "key_id": "bench", "client_ref": f"ref-{id}", "to_number": "8613800138000",
            "text": "Your verification code is 123456", "encoding": "gsm7", "channel": "cmcc",
            "status": "accepted", "segments": 1, "created_at": now, "expires_at": now + 86400,
        }),
        (INSERT_SEGMENT, {"message_id": id, "idx": 0, "channel": "cmcc", "status": "accepted"}),
    ]


def receipt(id: int) -> list[Op]:
    return [(SET_SEGMENT_STATUS, {"b_id": id, "b_status": "delivered", "b_stat": "DELIVRD", "b_done": time.time()})]


async def drive(
    engine: Engine, ids: list[int], build: Callable[[int], list[Op]], callers: int, max_batch_ops: int
) -> dict[str, Any]:
    """Run one request per id from `callers` concurrent tasks; return throughput and writer stats."""
    async with Writer(engine, max_batch_ops=max_batch_ops) as writer:
        queue = iter(ids)

        async def caller() -> None:
            for id in queue:
                await writer.execute(build(id))

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(callers):
                nursery.start_soon(caller)
        elapsed = time.perf_counter() - started
    stats = writer.stats
    return {
        "requests": stats.requests,
        "rows": stats.ops,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(stats.requests / elapsed),
        "rows_per_s": round(stats.ops / elapsed),
        "batches": stats.batches,
        "mean_requests_per_batch": round(stats.requests / stats.batches, 1),
        "commit_share": round(stats.commit_seconds / elapsed, 3),
    }


@contextmanager
def fresh_database(backend: str, pg_url: str | None) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    assert pg_url is not None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


async def bench(url: str, count: int, callers: int, max_batch_ops: int) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url)
    try:
        generate = IdGenerator(0)
        ids = [generate.next() for _ in range(count)]
        baseline_ids = [generate.next() for _ in range(max(count // 10, 1))]
        return {
            "backend": engine.dialect.name,
            "callers": callers,
            "max_batch_ops": max_batch_ops,
            "insert": await drive(engine, ids, new_message, callers, max_batch_ops),
            "insert_unbatched": await drive(engine, baseline_ids, new_message, callers, 2),
            "update": await drive(engine, ids, receipt, callers, max_batch_ops),
        }
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--callers", type=int, default=500)
    parser.add_argument("--max-batch-ops", type=int, default=5000)
    parser.add_argument("--pg-url", help="also run on this PostgreSQL (a scratch schema is created and dropped)")
    args = parser.parse_args()
    for backend in ["sqlite", "postgresql"] if args.pg_url else ["sqlite"]:
        with fresh_database(backend, args.pg_url) as url:
            result = trio.run(bench, url, args.messages, args.callers, args.max_batch_ops)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
