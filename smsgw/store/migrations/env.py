"""Alembic environment: runs on the connection ``smsgw.store.migrate`` passes in
``config.attributes["connection"]`` (no alembic.ini, no URL parsing here).

The whole upgrade is one transaction (both backends have transactional DDL), so a failed
migration leaves the previous revision intact; on PostgreSQL an advisory lock makes nodes
that start together migrate one after the other.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from smsgw.store.schema import metadata

# Any constant shared by all smsgw nodes; "smsgw" in ASCII.
PG_MIGRATION_LOCK = 0x736D736777

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through smsgw.store.migrate, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
    context.run_migrations()
