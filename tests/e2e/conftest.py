"""The database of the store-backed end-to-end tests: the harness's SQLite file, and a fresh
PostgreSQL schema (dropped afterwards) when SMSGW_TEST_PG_URL is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pg import pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the harness's SQLite file, else the URL of an empty PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    with pg_schema("e2e") as url:
        yield url
