"""Database fixtures: each test gets a fresh database on SQLite (a file under tmp_path) and,
when SMSGW_TEST_PG_URL is set, on PostgreSQL (a fresh schema, dropped afterwards)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from smsgw.store.engine import make_engine
from smsgw.store.migrate import upgrade
from tests.support.pg import pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an empty database that nothing else uses."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'data' / 'smsgw.db'}"
        return
    with pg_schema("test") as url:
        yield url


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """The URL of a fresh database migrated to head."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database (SQLite, and PostgreSQL when configured)."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
