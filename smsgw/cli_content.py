"""``smsgw signatures …`` and ``smsgw templates …``: register, list and decide (签名 and 模板).

Every command goes through the HTTP API with SMSGW_KEY / SMSGW_SECRET; approve and reject need
an admin key. Exit codes as everywhere: 1 when the API refuses, 2 on a usage error.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Any

import click

from .cli import CliContext, api_call, main

STATUSES = ("pending", "approved", "rejected")
KINDS = ("verification", "notification", "marketing")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: Any, width: int) -> str:
    """``value`` cut and padded to ``width`` terminal columns (CJK characters take two)."""
    text = "-" if value is None or value == "" else str(value).replace("\n", " ")
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, int]]) -> None:
    click.echo("  ".join(_cell(title, width) for title, _, width in columns).rstrip())
    for row in rows:
        click.echo("  ".join(_cell(row.get(name), width) for _, name, width in columns).rstrip())


def _all(ctx: CliContext, path: str, status: str | None) -> list[dict[str, Any]]:
    """Every item of a listing, following its cursor."""
    items: list[dict[str, Any]] = []
    after = "0"
    while True:
        query = f"?after={after}&limit=1000" + (f"&status={status}" if status else "")
        page = api_call(ctx, "GET", path + query)
        items += page["items"]
        if len(page["items"]) < 1000:
            return items
        after = page["next"]


def _echo(data: Any, as_json: bool, line: str) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else line)


# ------------------------------------------------------------------------- signatures
@main.group()
def signatures() -> None:
    """Signatures (签名): the 【name】 every message carries; approved by an admin."""


@signatures.command(name="list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only signatures in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON items.")
@click.pass_obj
def signatures_list(ctx: CliContext, status: str | None, as_json: bool) -> None:
    """The key's signatures (an admin key: everyone's)."""
    items = _all(ctx, "/v1/signatures", status)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    _table(items, [("ID", "id", 18), ("NAME", "name", 20), ("STATUS", "status", 8), ("COMPANY", "company", 24),
                   ("LICENCE", "licence", 18), ("KEY", "key_id", 19), ("REASON", "reason", 30)])


@signatures.command(name="create")
@click.option("--name", required=True, help="The text placed in 【】: 2 to 20 characters.")
@click.option("--company", default=None, help="Company full name.")
@click.option("--licence", default=None, help="Business licence number.")
@click.option("--purpose", default=None, help="What the messages are for.")
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "status"}.')
@click.pass_obj
def signatures_create(ctx: CliContext, name: str, company: str | None, licence: str | None, purpose: str | None,
                      as_json: bool) -> None:
    """Register a signature; it is pending until an admin approves it."""
    body = {k: v for k, v in (("name", name), ("company", company), ("licence", licence), ("purpose", purpose))
            if v is not None}
    created = api_call(ctx, "POST", "/v1/signatures", body)
    _echo(created, as_json, f"signature {created['id']} 【{name}】: {created['status']}")


# -------------------------------------------------------------------------- templates
@main.group()
def templates() -> None:
    """Templates (模板): fixed text with {name} variables; approved by an admin."""


@templates.command(name="list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only templates in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON items.")
@click.pass_obj
def templates_list(ctx: CliContext, status: str | None, as_json: bool) -> None:
    """The key's templates (an admin key: everyone's)."""
    items = _all(ctx, "/v1/templates", status)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for item in items:
        item["params"] = ",".join(item["params"])
    _table(items, [("ID", "id", 18), ("NAME", "name", 16), ("KIND", "kind", 12), ("STATUS", "status", 8),
                   ("PARAMS", "params", 14), ("CONTENT", "content", 40), ("REASON", "reason", 24)])


@templates.command(name="create")
@click.option("--name", required=True, help="A label for the template.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="Decides frequency limits and value rules.")
@click.option("--content", required=True, help='Fixed text with {name} variables, e.g. "您的验证码是{code}".')
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "status", "params"}.')
@click.pass_obj
def templates_create(ctx: CliContext, name: str, kind: str, content: str, as_json: bool) -> None:
    """Register a template; it is pending until an admin approves it."""
    created = api_call(ctx, "POST", "/v1/templates", {"name": name, "kind": kind, "content": content})
    params = ", ".join(created["params"]) or "none"
    _echo(created, as_json, f"template {created['id']}: {created['status']} (variables: {params})")


def _decisions(group: click.Group, what: str, path: str, line: Callable[[dict[str, Any]], str]) -> None:
    """``approve``, ``reject`` and ``delete`` of ``group``: the same for signatures and templates."""

    @group.command(name="approve", help=f"Approve a {what} (admin key).")
    @click.argument("item_id", metavar="ID")
    @click.option("--json", "as_json", is_flag=True, help=f"Print the {what} as JSON.")
    @click.pass_obj
    def approve(ctx: CliContext, item_id: str, as_json: bool) -> None:
        done = api_call(ctx, "POST", f"{path}/{_id(item_id)}/approve", {})
        _echo(done, as_json, line(done))

    @group.command(name="reject", help=f"Reject (or revoke) a {what} (admin key).")
    @click.argument("item_id", metavar="ID")
    @click.option("--reason", required=True, help="Why, in a sentence the submitter can act on.")
    @click.option("--json", "as_json", is_flag=True, help=f"Print the {what} as JSON.")
    @click.pass_obj
    def reject(ctx: CliContext, item_id: str, reason: str, as_json: bool) -> None:
        done = api_call(ctx, "POST", f"{path}/{_id(item_id)}/reject", {"reason": reason})
        _echo(done, as_json, f"{line(done)} ({done['reason']})")

    @group.command(name="delete", help=f"Delete a {what} of the key (messages already accepted are sent as they "
                                       "are).")
    @click.argument("item_id", metavar="ID")
    @click.pass_obj
    def delete(ctx: CliContext, item_id: str) -> None:
        done = api_call(ctx, "DELETE", f"{path}/{_id(item_id)}")
        click.echo(f"{what} {done['id']}: {done['status']}")


_decisions(signatures, "signature", "/v1/signatures", lambda s: f"signature {s['id']} 【{s['name']}】: {s['status']}")
_decisions(templates, "template", "/v1/templates", lambda t: f"template {t['id']} {t['name']!r}: {t['status']}")


def _id(raw: str) -> str:
    if not raw.isdigit():
        raise click.BadParameter(f"expected the numeric id that create or list printed, got {raw!r}",
                                 param_hint="ID")
    return raw
