"""Engine configuration and the errors for URLs that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from smsgw.store.engine import make_engine
from smsgw.store.errors import DatabaseUnavailable, UnsupportedDatabaseURL
from smsgw.store.sqlite import SQLITE_BUSY_TIMEOUT_MS


def test_sqlite_creates_its_directory_and_sets_durable_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "smsgw.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            pragma = lambda name: conn.execute(text(f"PRAGMA {name}")).scalar_one()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()
    assert path.exists()


def test_sqlite_under_a_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DatabaseUnavailable, match="cannot create its directory"):
        make_engine(f"sqlite:///{tmp_path / 'file' / 'smsgw.db'}")


def test_unreachable_postgresql_names_the_url_without_the_password() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        make_engine("postgresql+psycopg://smsgw:s3cret@127.0.0.1:1/smsgw")
    message = str(caught.value)
    assert "postgresql+psycopg://smsgw:***@127.0.0.1:1/smsgw" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    "url",
    ["mysql://db/smsgw", "postgresql://db/smsgw", "sqlite://", "sqlite:///:memory:", "no url at all"],
)
def test_unsupported_urls_are_refused_with_the_expected_forms(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseURL, match="expected sqlite:///PATH or postgresql"):
        make_engine(url)
