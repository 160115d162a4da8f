"""API keys: created by ops (``smsgw keys create``), looked up by the request verifier."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from .store.schema import api_keys


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    secret: str
    name: str
    is_admin: bool
    allow_text: bool


def new_key(name: str, *, admin: bool = False, allow_text: bool = True) -> ApiKey:
    return ApiKey("ak_" + secrets.token_hex(8), secrets.token_urlsafe(32), name, admin, allow_text)


def insert_key(conn: Connection, key: ApiKey) -> None:
    conn.execute(insert(api_keys).values(id=key.id, secret=key.secret, name=key.name, is_admin=key.is_admin,
                                         allow_text=key.allow_text, disabled=False, created_at=time.time()))


def load_key(conn: Connection, key_id: str) -> ApiKey | None:
    k = api_keys.c
    row = conn.execute(
        select(k.id, k.secret, k.name, k.is_admin, k.allow_text).where(k.id == key_id, k.disabled.is_(False))
    ).first()
    return ApiKey(row.id, row.secret, row.name, row.is_admin, row.allow_text) if row else None


def count_keys(conn: Connection) -> int:
    return len(conn.execute(select(api_keys.c.id).limit(1)).all())
