"""The blacklist and the whitelist: what is in memory for the per-message check, the SQL that
keeps them durable, and the CSV import of blacklist entries.

A blacklist entry blocks one number for one signature, or for all of them (scope ``ALL``,
stored as '' — see schema.py). In memory a number maps to the frozenset of its scopes; the
common "all signatures" entry shares one frozenset, so a million blocked numbers cost a dict
entry each. Adding writes with ``INSERT ... WHERE NOT EXISTS``: an entry that is already there
(an MO unsubscribe the operator resent, an admin repeating a request) is left as it was, and
the op can never fail the transaction it is part of (the MO's own, for an unsubscribe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Float, String, Text, and_, bindparam, delete, exists, insert, select

from .numbers import InvalidNumber, normalise
from .store.schema import blacklist, whitelist

ALL = ""  # the scope of an entry that blocks every signature
SOURCES = ("admin", "import", "mo_unsubscribe")
MAX_REASON = 500
MAX_SIGNATURE = 64
_ALL_ONLY = frozenset((ALL,))


class NumberLists:
    """The lists as the hot path reads them."""

    def __init__(self) -> None:
        self.blocked: dict[str, frozenset[str]] = {}  # number -> scopes ('' = all signatures)
        self.exempt: set[str] = set()  # whitelisted numbers

    def is_blocked(self, number: str, signature: str | None) -> bool:
        scopes = self.blocked.get(number)
        return scopes is not None and (ALL in scopes or (signature is not None and signature in scopes))

    def has(self, number: str, scope: str) -> bool:
        scopes = self.blocked.get(number)
        return scopes is not None and scope in scopes

    def block(self, number: str, scope: str) -> bool:
        """Add the entry; False if it was there."""
        scopes = self.blocked.get(number)
        if scopes is None:
            self.blocked[number] = _ALL_ONLY if scope == ALL else frozenset((scope,))
            return True
        if scope in scopes:
            return False
        self.blocked[number] = scopes | {scope}
        return True

    def unblock(self, number: str, scope: str | None) -> list[str]:
        """Remove one scope of the number (``None``: all its entries); the scopes removed."""
        scopes = self.blocked.get(number)
        if scopes is None:
            return []
        removed = sorted(scopes) if scope is None else [scope] if scope in scopes else []
        rest = scopes.difference(removed)
        if rest:
            self.blocked[number] = _ALL_ONLY if rest == _ALL_ONLY else rest
        else:
            del self.blocked[number]
        return removed


# ------------------------------------------------------------------------ SQL
_b = blacklist.c
_w = whitelist.c

INSERT_BLACKLIST = insert(blacklist).from_select(
    ["number", "signature", "reason", "source", "created_at"],
    select(bindparam("b_number", type_=String(32)), bindparam("b_scope", type_=String(64)),
           bindparam("b_reason", type_=Text), bindparam("b_source", type_=String(16)),
           bindparam("b_at", type_=Float))
    .where(~exists().where(and_(_b.number == bindparam("b_number", type_=String(32)),
                                _b.signature == bindparam("b_scope", type_=String(64))))),
)
DELETE_BLACKLIST_SCOPE = delete(blacklist).where(and_(_b.number == bindparam("b_number"),
                                                      _b.signature == bindparam("b_scope")))
DELETE_BLACKLIST_NUMBER = delete(blacklist).where(_b.number == bindparam("b_number"))
INSERT_WHITELIST = insert(whitelist).from_select(
    ["number", "reason", "created_at"],
    select(bindparam("w_number", type_=String(32)), bindparam("w_reason", type_=Text),
           bindparam("w_at", type_=Float))
    .where(~exists().where(_w.number == bindparam("w_number", type_=String(32)))),
)
DELETE_WHITELIST = delete(whitelist).where(_w.number == bindparam("w_number"))


def blacklist_op(number: str, scope: str, reason: str | None, source: str, at: float) -> tuple[Any, dict[str, Any]]:
    return INSERT_BLACKLIST, {"b_number": number, "b_scope": scope, "b_reason": reason, "b_source": source,
                              "b_at": at}


def blacklist_page(conn: Connection, after: int, limit: int, number: str | None = None) -> list[Any]:
    query = select(blacklist).where(_b.id > after).order_by(_b.id).limit(limit)
    if number is not None:
        query = query.where(_b.number == number)
    return list(conn.execute(query).all())


def whitelist_page(conn: Connection, after: int, limit: int) -> list[Any]:
    return list(conn.execute(select(whitelist).where(_w.id > after).order_by(_w.id).limit(limit)).all())


def blacklist_row(conn: Connection, number: str, scope: str) -> Any:
    return conn.execute(select(blacklist).where(_b.number == number, _b.signature == scope)).first()


def whitelist_row(conn: Connection, number: str) -> Any:
    return conn.execute(select(whitelist).where(_w.number == number)).first()


def blacklist_item(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "number": row.number, "signature": row.signature or None, "reason": row.reason,
            "source": row.source, "created_at": row.created_at}


def whitelist_item(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "number": row.number, "reason": row.reason, "created_at": row.created_at}


# ----------------------------------------------------------------- validation
class InvalidEntry(ValueError):
    """A list entry's field is unusable; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def entry_number(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidEntry("number", "\"number\" must be a phone number string")
    try:
        return normalise(raw)
    except InvalidNumber as exc:
        raise InvalidEntry("number", str(exc)) from None


def entry_scope(raw: object) -> str:
    """A signature name, or ALL for None / empty."""
    if raw is None:
        return ALL
    if not isinstance(raw, str) or len(raw.strip()) > MAX_SIGNATURE:
        raise InvalidEntry("signature", f"\"signature\" must be a signature name of at most {MAX_SIGNATURE} "
                                        "characters, or null for all signatures")
    return raw.strip()


def entry_reason(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > MAX_REASON:
        raise InvalidEntry("reason", f"\"reason\" must be a string of at most {MAX_REASON} characters")
    return raw


# ------------------------------------------------------------------ CSV import
CSV_COLUMNS = ("number", "signature", "reason")
MAX_REPORTED_ERRORS = 20
# New entries one upload may add. They are held in memory until the body ends and its request
# signature is verified, so an unverified upload must not grow them without bound.
MAX_IMPORT_ENTRIES = 200_000


class ImportTooLarge(ValueError):
    """An upload has more new entries than one import may add."""


@dataclass(slots=True)
class BlacklistImport:
    """Checks CSV records (header ``number,signature,reason``; only ``number`` is required) against
    the lists in memory and itself. Nothing is written here: ``entries`` is what to add once the
    whole upload has arrived (and its request signature has been checked)."""

    lists: NumberLists
    columns: dict[str, int] | None = None
    entries: list[tuple[str, str, str | None]] = field(default_factory=list)
    duplicate: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def header(self, fields: list[str]) -> None:
        """``InvalidEntry`` when the header lacks ``number`` or names a column twice / unknown."""
        names = [f.strip().lower() for f in fields]
        unknown = [n for n in names if n not in CSV_COLUMNS]
        if "number" not in names or unknown or len(set(names)) != len(names):
            raise InvalidEntry("file", f"the first line must be the header {','.join(CSV_COLUMNS)} "
                                       f"(number required, the others optional), got {','.join(fields)!r}")
        self.columns = {name: i for i, name in enumerate(names)}

    def row(self, line: int, fields: list[str]) -> None:
        if self.columns is None:
            self.header(fields)
            return
        if len(fields) != len(self.columns):
            self._invalid(line, "columns", f"expected {len(self.columns)} fields, got {len(fields)}")
            return
        try:
            number = entry_number(fields[self.columns["number"]])
            scope = entry_scope(fields[self.columns["signature"]]) if "signature" in self.columns else ALL
            reason = entry_reason(fields[self.columns["reason"]]) if "reason" in self.columns else None
        except InvalidEntry as exc:
            self._invalid(line, exc.field, str(exc))
            return
        if self.lists.has(number, scope) or (number, scope) in self._seen:
            self.duplicate += 1
            return
        if len(self.entries) >= MAX_IMPORT_ENTRIES:
            raise ImportTooLarge(f"line {line}: one import adds at most {MAX_IMPORT_ENTRIES} new entries; "
                                 "split the file")
        self._seen.add((number, scope))
        self.entries.append((number, scope, reason))

    def _invalid(self, line: int, column: str, message: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "field": column, "message": message})
