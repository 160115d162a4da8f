"""``smsgw stats``: GET /v1/stats of the running daemon as a table (or its JSON)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import click

from .cli import CliContext, api_call, main
from .stats import GROUPS


@main.command()
@click.option("--from", "start", default=None, metavar="WHEN",
              help="Start: unix seconds, ISO date or date-time (default: 7 days before --to).")
@click.option("--to", "end", default=None, metavar="WHEN",
              help="End, exclusive; a date includes that day (default: now).")
@click.option("--group-by", default="day", show_default=True, type=click.Choice(GROUPS))
@click.option("--tz", default=None, help="UTC offset for dates and days, e.g. +08:00 (default: UTC).")
@click.option("--key", default=None, help="Only this API key's messages (admin keys; others see their own).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_obj
def stats(ctx: CliContext, start: str | None, end: str | None, group_by: str, tz: str | None, key: str | None,
          as_json: bool) -> None:
    """Delivery statistics: sent, delivered, failed, pending, delivery rate and failure reasons."""
    params = {name: value for name, value in
              (("from", start), ("to", end), ("group_by", group_by), ("tz", tz), ("key", key)) if value}
    data = api_call(ctx, "GET", "/v1/stats?" + urlencode(params))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(format_stats(data))


def format_stats(data: dict[str, Any]) -> str:
    """The table: one line per group and a total, then the reasons of each group with their raw codes."""
    label = str(data["group_by"]).upper()
    rows = [(str(g["group"]) if g["group"] is not None else "(none)", g) for g in data["groups"]]
    rows.append(("TOTAL", data["total"]))
    width = max([len(label), *(len(name) for name, _ in rows)])
    lines = [f"{data['from']} .. {data['to']} (group by {data['group_by']}, tz {data['tz']})",
             f"{label:<{width}} {'TOTAL':>8} {'SUBMITTED':>9} {'DELIVERED':>9} {'FAILED':>7} {'EXPIRED':>7} "
             f"{'REJECTED':>8} {'PENDING':>7} {'RATE':>7}"]
    for name, g in rows:
        rate = "-" if g["delivery_rate"] is None else f"{g['delivery_rate'] * 100:.1f}%"
        lines.append(f"{name:<{width}} {g['total']:>8} {g['submitted']:>9} {g['delivered']:>9} {g['failed']:>7} "
                     f"{g['expired']:>7} {g['rejected']:>8} {g['pending']:>7} {rate:>7}")
    for name, g in rows:
        if not g["reasons"]:
            continue
        lines.append("")
        lines.append(f"reasons ({name}):")
        for reason in g["reasons"]:
            raw = ", ".join(f"{r['code']} x{r['count']}" for r in reason["raw"])
            lines.append(f"  {reason['code']:<17} {reason['count']:>7}  {raw}")
    return "\n".join(lines)
