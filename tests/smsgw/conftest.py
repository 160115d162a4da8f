"""Database fixtures: each test gets a fresh database on SQLite (a file under tmp_path) and,
when SMSGW_TEST_PG_URL is set, on PostgreSQL (a fresh schema, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text

from smsgw.store.migrate import upgrade

PG_URL = os.environ.get("SMSGW_TEST_PG_URL")
PG_SKIP = "SMSGW_TEST_PG_URL not set: PostgreSQL tests skipped"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an empty database that nothing else uses."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'data' / 'smsgw.db'}"
        return
    if not PG_URL:
        pytest.skip(PG_SKIP)
    schema = f"test_{uuid.uuid4().hex[:16]}"
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


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """The URL of a fresh database migrated to head."""
    upgrade(empty_db_url)
    return empty_db_url
