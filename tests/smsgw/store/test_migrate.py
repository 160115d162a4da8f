"""Migrations produce exactly schema.py, and an out-of-date database is refused with the
command that fixes it."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from smsgw.store.engine import make_engine
from smsgw.store.errors import SchemaOutOfDate, UnknownSchemaRevision
from smsgw.store.migrate import _config, check_up_to_date, current_revision, head_revision, upgrade
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
    assert current_revision(db_url) == head_revision() == "0005"
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


def test_0005_keys_mo_parts_by_recipient_and_keeps_the_parts(empty_db_url: str) -> None:
    """``compare_metadata`` does not compare primary keys: this checks 0005's on its own. Parts
    stored under 0004 survive the upgrade, and then two messages from one sender with one
    reference to two service numbers keep a row each per part."""
    engine = make_engine(empty_db_url)
    part = {"ch": "cm", "src": "13800138000", "dst": "10690001", "ref": 7, "tot": 2, "idx": 1, "payload": b"hi ",
            "coding": 0, "at": 1.0}
    insert = text("INSERT INTO mo_parts VALUES (:ch, :src, :dst, :ref, :tot, :idx, :payload, :coding, :at)")
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0004")
            conn.execute(insert, part)
        upgrade(engine)
        assert current_revision(engine) == "0005"
        key = inspect(engine).get_pk_constraint("mo_parts")
        assert (key["name"], key["constrained_columns"]) == (
            "pk_mo_parts", ["channel", "from_number", "to_number", "reference", "total", "idx"])
        with engine.begin() as conn:
            conn.execute(insert, {**part, "dst": "10690002", "payload": b"yo "})
            rows = conn.execute(text("SELECT to_number, payload FROM mo_parts ORDER BY to_number")).all()
            assert [(dst, bytes(payload)) for dst, payload in rows] == [("10690001", b"hi "), ("10690002", b"yo ")]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, part)  # the same part again is still refused
    finally:
        engine.dispose()


def test_0005_downgrades_only_while_no_parts_collide(empty_db_url: str) -> None:
    """Parts of two messages that differ only in recipient cannot go back under the old key:
    the downgrade fails as a whole and leaves 0005; once they are gone, it succeeds."""
    engine = make_engine(empty_db_url)
    insert = text("INSERT INTO mo_parts VALUES ('cm', '13800138000', :dst, 7, 2, 1, :payload, 0, 1.0)")
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(insert, [{"dst": "10690001", "payload": b"hi "}, {"dst": "10690002", "payload": b"yo "}])
        with pytest.raises(IntegrityError), engine.begin() as conn:
            command.downgrade(_config(conn), "0004")
        assert current_revision(engine) == "0005"
        assert len(inspect(engine).get_pk_constraint("mo_parts")["constrained_columns"]) == 6
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM mo_parts WHERE to_number = '10690002'"))
            command.downgrade(_config(conn), "0004")
        assert current_revision(engine) == "0004"
        assert inspect(engine).get_pk_constraint("mo_parts")["constrained_columns"] == [
            "channel", "from_number", "reference", "total", "idx"]
    finally:
        engine.dispose()
