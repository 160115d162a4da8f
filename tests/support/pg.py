"""A fresh PostgreSQL schema per test (dropped afterwards) when SMSGW_TEST_PG_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text

PG_URL = os.environ.get("SMSGW_TEST_PG_URL")
PG_SKIP = "SMSGW_TEST_PG_URL not set: PostgreSQL tests skipped"


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """The URL of an empty schema named ``prefix`` + a random suffix; skips without a server."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, pool_pre_ping=True)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))  # a leaked connection fails, not hangs
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
