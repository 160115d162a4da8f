"""API keys: created, listed, disabled and enabled by ops (``smsgw keys``), looked up by the
request verifier. A running daemon re-checks the keys it has cached every few seconds
(``revoked``), so disabling a key in the database takes effect without a restart."""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

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


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every key without its secret, oldest first."""
    k = api_keys.c
    rows = conn.execute(select(k.id, k.name, k.is_admin, k.allow_text, k.disabled, k.created_at)
                        .order_by(k.created_at, k.id)).all()
    return [{"key": r.id, "name": r.name, "admin": r.is_admin, "text": r.allow_text, "disabled": r.disabled,
             "created_at": r.created_at} for r in rows]


def set_disabled(conn: Connection, key_id: str, disabled: bool) -> bool:
    """Disable or enable a key; False when there is no such key."""
    k = api_keys.c
    return conn.execute(update(api_keys).where(k.id == key_id).values(disabled=disabled)).rowcount == 1


def revoked(conn: Connection, key_ids: Collection[str]) -> set[str]:
    """Those of ``key_ids`` that are disabled or gone."""
    k = api_keys.c
    usable = set(conn.execute(select(k.id).where(k.id.in_(list(key_ids)), k.disabled.is_(False))).scalars())
    return set(key_ids) - usable
