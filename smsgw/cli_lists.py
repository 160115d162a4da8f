"""``smsgw blacklist|whitelist``: the number lists of a running daemon, through its admin API.

The key in SMSGW_KEY / SMSGW_SECRET must be an admin key. ``blacklist import`` streams the file
(hashed first: the request signature covers the body) and ``blacklist export`` streams the CSV,
so neither holds a large list in memory.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

import click

from .cli import CliContext, Failed, _api_url, _credentials, api_call, api_payload, api_stream, main

_CHUNK = 64 * 1024


@main.group()
def blacklist() -> None:
    """Numbers that receive nothing (per signature or for all); import/export as CSV."""


@blacklist.command(name="add")
@click.argument("number")
@click.option("--signature", default=None, help="Block only this signature's messages (default: all).")
@click.option("--reason", default=None, help="Why (shown in listings and exports).")
@click.pass_obj
def blacklist_add(ctx: CliContext, number: str, signature: str | None, reason: str | None) -> None:
    """Blacklist NUMBER: nothing more is sent to it (for --signature, or for all)."""
    entry = api_call(ctx, "POST", "/v1/blacklist", {"number": number, "signature": signature, "reason": reason})
    state = "added" if entry["created"] else "already on the blacklist"
    click.echo(f"{entry['number']} ({_scope(entry['signature'])}): {state}")


@blacklist.command(name="remove")
@click.argument("number")
@click.option("--signature", default=None,
              help="Remove only this signature's entry (default: every entry of the number).")
@click.pass_obj
def blacklist_remove(ctx: CliContext, number: str, signature: str | None) -> None:
    """Remove NUMBER's blacklist entries; sending to it resumes."""
    query = "" if signature is None else "?" + urlencode({"signature": signature})
    done = api_call(ctx, "DELETE", f"/v1/blacklist/{quote(number, safe='+')}{query}")
    click.echo(f"{done['number']}: removed {', '.join(_scope(s) for s in done['removed'])}")


@blacklist.command(name="list")
@click.option("--number", default=None, help="Only this number's entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def blacklist_list(ctx: CliContext, number: str | None, as_json: bool) -> None:
    """Print the blacklist entries, oldest first."""
    if not as_json:
        click.echo(f"{'NUMBER':<16} {'SIGNATURE':<20} {'SOURCE':<15} {'ADDED (UTC)':<19}  REASON")
    for item in _pages(ctx, "/v1/blacklist", {"number": number} if number else {}):
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False))
        else:
            click.echo(f"{item['number']:<16} {_scope(item['signature']):<20} {item['source']:<15} "
                       f"{_time(item['created_at']):<19}  {item['reason'] or ''}")


@blacklist.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def blacklist_import(ctx: CliContext, file: Path) -> None:
    """Add the entries of a UTF-8 CSV FILE with the header number,signature,reason (only number
    is required; an empty signature blocks all). Prints the counts and the first bad lines."""
    import httpx

    digest = hashlib.sha256()
    with file.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    key, secret = _credentials()
    from .http.auth import signature, string_to_sign

    path, ts, nonce = "/v1/blacklist/import", str(int(time.time())), secrets.token_hex(16)
    headers = {"X-Api-Key": key, "X-Timestamp": ts, "X-Nonce": nonce, "content-type": "text/csv",
               "X-Signature": signature(secret, string_to_sign("POST", path, ts, nonce, digest.hexdigest())),
               "X-Content-SHA256": digest.hexdigest(),  # the signature is checked before the body is read
               "content-length": str(file.stat().st_size)}

    def body() -> Iterator[bytes]:
        with file.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    try:
        with httpx.Client(timeout=300) as client:
            response = client.post(_api_url(ctx) + path, content=body(), headers=headers)
    except httpx.HTTPError as exc:
        raise Failed(f"cannot reach the gateway at {_api_url(ctx)}: {exc}") from None
    report = api_payload(response)
    click.echo(f"added {report['added']}, duplicate {report['duplicate']}, invalid {report['invalid']}")
    for error in report["errors"]:
        click.echo(f"{file}:{error['line']}: {error['field']}: {error['message']}", err=True)
    if report["invalid"] > len(report["errors"]):
        click.echo(f"... and {report['invalid'] - len(report['errors'])} more invalid lines", err=True)


@blacklist.command(name="export")
@click.option("--output", "-o", type=click.File("wb"), default="-", show_default=True,
              help="Where to write the CSV.")
@click.pass_obj
def blacklist_export(ctx: CliContext, output: IO[bytes]) -> None:
    """Write the blacklist as CSV (number,signature,reason), importable as is."""
    import httpx

    try:
        with api_stream(ctx, "/v1/blacklist/export", 300) as response:
            for chunk in response.iter_bytes():
                output.write(chunk)
    except httpx.HTTPError as exc:
        raise Failed(f"cannot reach the gateway at {_api_url(ctx)}: {exc}") from None
    output.flush()


@main.group()
def whitelist() -> None:
    """Numbers exempt from the frequency limits (capacity: policy.whitelist_capacity)."""


@whitelist.command(name="add")
@click.argument("number")
@click.option("--reason", default=None, help="Why (e.g. internal testing, VIP customer).")
@click.pass_obj
def whitelist_add(ctx: CliContext, number: str, reason: str | None) -> None:
    """Exempt NUMBER from the frequency limits (not from the blacklist)."""
    entry = api_call(ctx, "POST", "/v1/whitelist", {"number": number, "reason": reason})
    click.echo(f"{entry['number']}: {'added' if entry['created'] else 'already on the whitelist'}")


@whitelist.command(name="remove")
@click.argument("number")
@click.pass_obj
def whitelist_remove(ctx: CliContext, number: str) -> None:
    """Remove NUMBER from the whitelist; the frequency limits apply to it again."""
    done = api_call(ctx, "DELETE", f"/v1/whitelist/{quote(number, safe='+')}")
    click.echo(f"{done['number']}: removed")


@whitelist.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def whitelist_list(ctx: CliContext, as_json: bool) -> None:
    """Print the whitelist and how many of its places are used."""
    first = api_call(ctx, "GET", "/v1/whitelist?limit=1")
    if not as_json:
        click.echo(f"{first['count']} of {first['capacity']} places used")
        click.echo(f"{'NUMBER':<16} {'ADDED (UTC)':<19}  REASON")
    for item in _pages(ctx, "/v1/whitelist", {}):
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False))
        else:
            click.echo(f"{item['number']:<16} {_time(item['created_at']):<19}  {item['reason'] or ''}")


def _pages(ctx: CliContext, path: str, query: dict[str, str]) -> Iterator[dict[str, Any]]:
    after = "0"
    while True:
        page = api_call(ctx, "GET", f"{path}?{urlencode({**query, 'after': after, 'limit': 1000})}")
        yield from page["items"]
        if not page["items"]:
            return
        after = page["next"]


def _scope(signature: str | None) -> str:
    return "all signatures" if signature is None else signature


def _time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
