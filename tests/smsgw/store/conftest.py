from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from smsgw.store.engine import make_engine


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database (SQLite, and PostgreSQL when configured)."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
