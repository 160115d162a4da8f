"""Migrations produce exactly schema.py, and an out-of-date database is refused with the
command that fixes it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from smsgw.store.engine import make_engine
from smsgw.store.errors import SchemaOutOfDate, UnknownSchemaRevision
from smsgw.store.migrate import check_up_to_date, current_revision, head_revision, upgrade
from smsgw.store.schema import metadata
from smsgw.store.store import open_store


def test_migrations_produce_exactly_the_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_empty_database_is_out_of_date_and_says_what_to_run(empty_db_url: str) -> None:
    assert current_revision(empty_db_url) is None
    with pytest.raises(SchemaOutOfDate) as caught:
        check_up_to_date(empty_db_url)
    message = str(caught.value)
    assert "none (empty database)" in message
    assert f"needs {head_revision()}" in message
    assert "run `smsgw db upgrade --config PATH`" in message


def test_upgrade_reaches_head_and_is_idempotent(db_url: str) -> None:
    assert current_revision(db_url) == head_revision() == "0004"
    check_up_to_date(db_url)
    upgrade(db_url)
    check_up_to_date(db_url)


def test_newer_database_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(UnknownSchemaRevision, match="migrated by a newer smsgw"):
            check_up_to_date(engine)
    finally:
        engine.dispose()


async def test_open_store_refuses_an_unmigrated_database(empty_db_url: str) -> None:
    with pytest.raises(SchemaOutOfDate):
        async with open_store(empty_db_url):
            pass


def test_report_ids_are_never_reused(db_url: str) -> None:
    """The reports feed's cursor must never see an id twice, even once the table is emptied."""
    engine = make_engine(db_url)
    row = "(message_id, key_id, to_number, status, done_at) VALUES (1, 'k', '1', 'delivered', 0)"
    try:
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO reports {row}"))
            conn.execute(text("DELETE FROM reports"))
            conn.execute(text(f"INSERT INTO reports {row}"))
            assert conn.execute(text("SELECT id FROM reports")).scalar_one() == 2
    finally:
        engine.dispose()
