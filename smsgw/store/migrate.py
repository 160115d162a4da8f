"""Schema migrations, driven from code: the packaged Alembic scripts, no alembic.ini.

The daemon refuses to start on a database whose revision is not this code's head
(``check_up_to_date``), and upgrading is an explicit operator step (``smsgw db upgrade``),
so a rolling deploy never has two smsgw versions silently fighting over a schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine

from smsgw.store.engine import make_engine, masked
from smsgw.store.errors import SchemaOutOfDate, UnknownSchemaRevision

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "smsgw db upgrade --config PATH"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _engine(target: str | Engine) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = make_engine(target, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the packaged migrations have no head"
    return head


def current_revision(target: str | Engine) -> str | None:
    """The database's revision, None for a database never migrated."""
    with _engine(target) as engine, engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(target: str | Engine) -> None:
    """Migrate to head in one transaction (a failure leaves the previous revision)."""
    with _engine(target) as engine, engine.begin() as conn:
        command.upgrade(_config(conn), "head")


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def check_up_to_date(target: str | Engine) -> None:
    """Raise ``SchemaOutOfDate`` or ``UnknownSchemaRevision`` unless the database is at head."""
    with _engine(target) as engine:
        current = current_revision(engine)
        head = head_revision()
        if current == head:
            return
        where = masked(engine.url)
        if current is not None and not _known(current):
            raise UnknownSchemaRevision(
                f"database {where} is at schema revision {current}, which this smsgw does not know "
                f"(its newest is {head}): it was migrated by a newer smsgw; run that version"
            )
        raise SchemaOutOfDate(
            f"database {where} is at schema revision {current or 'none (empty database)'}, "
            f"this smsgw needs {head}: run `{UPGRADE_COMMAND}`"
        )
