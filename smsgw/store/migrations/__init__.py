"""Alembic migrations of ``smsgw.store.schema``, run through ``smsgw.store.migrate``."""
