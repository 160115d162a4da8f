"""``smsgw keys``: create, list, disable and enable API keys, straight in the database (the
daemon need not run; a running one notices a disabled key within seconds, see smsgw.keys)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy import Connection

from .cli import CliContext, Failed, _load_config, main
from .keys import insert_key, list_keys, new_key, set_disabled

T = TypeVar("T")


@main.group()
def keys() -> None:
    """API keys."""


@keys.command(name="create")
@click.option("--name", required=True, help="Who the key is for (shown in listings).")
@click.option("--admin", is_flag=True, help="May approve signatures/templates and manage lists.")
@click.option("--text/--no-text", "allow_text", default=True, show_default=True,
              help="Whether the key may send raw text (still matched against its approved templates); "
                   "--no-text: only by template id and params.")
@click.option("--json", "as_json", is_flag=True, help='Print {"key": ..., "secret": ...}.')
@click.pass_obj
def keys_create(ctx: CliContext, name: str, admin: bool, allow_text: bool, as_json: bool) -> None:
    """Create an API key; its secret is printed once and cannot be shown again."""
    key = new_key(name, admin=admin, allow_text=allow_text)
    _in_database(ctx, lambda conn: insert_key(conn, key))
    if as_json:
        click.echo(json.dumps({"key": key.id, "secret": key.secret}))
    else:
        click.echo(f"key:    {key.id}\nsecret: {key.secret}\n(the secret is shown only now)")


@keys.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (no secrets).")
@click.pass_obj
def keys_list(ctx: CliContext, as_json: bool) -> None:
    """Every key: id, name, rights, disabled or not (secrets are never shown)."""
    rows = _in_database(ctx, list_keys)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    click.echo(f"{'KEY':20}  {'ADMIN':5}  {'TEXT':4}  {'STATE':8}  {'CREATED':19}  NAME")
    for r in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["created_at"]))
        click.echo(f"{r['key']:20}  {'yes' if r['admin'] else 'no':5}  {'yes' if r['text'] else 'no':4}  "
                   f"{'disabled' if r['disabled'] else 'active':8}  {created:19}  {r['name']}")


@keys.command(name="disable")
@click.argument("key_id", metavar="KEY")
@click.pass_obj
def keys_disable(ctx: CliContext, key_id: str) -> None:
    """Refuse every request signed with KEY from now on (401 unknown_key; a running daemon
    drops it within 5 s). Its messages already accepted are still sent."""
    _switch(ctx, key_id, disabled=True)


@keys.command(name="enable")
@click.argument("key_id", metavar="KEY")
@click.pass_obj
def keys_enable(ctx: CliContext, key_id: str) -> None:
    """Accept requests signed with KEY again."""
    _switch(ctx, key_id, disabled=False)


def _switch(ctx: CliContext, key_id: str, *, disabled: bool) -> None:
    if not _in_database(ctx, lambda conn: set_disabled(conn, key_id, disabled)):
        raise Failed(f"no API key {key_id!r} (smsgw keys list shows them)")
    click.echo(f"{key_id}: {'disabled' if disabled else 'enabled'}")


def _in_database(ctx: CliContext, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction on the configured database (at the current schema)."""
    from .store import migrate
    from .store.engine import make_engine
    from .store.errors import StoreError

    config = _load_config(ctx)
    try:
        engine = make_engine(config.gateway.database, pool_size=1)
        try:
            migrate.check_up_to_date(engine)
            with engine.begin() as conn:
                return work(conn)
        finally:
            engine.dispose()
    except StoreError as exc:
        raise Failed(str(exc)) from None
