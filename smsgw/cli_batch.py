"""``smsgw batch``: upload a CSV as a batch and watch it, export its recipients, control it.

The upload is streamed: the file is read twice from disk (once for the body hash the request
signature needs, once while sending), never held in memory.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .cli import CliContext, Failed, _api_url, _credentials, api_call, api_payload, api_stream, main

_READ = 256 * 1024
_FINAL = ("done", "cancelled")


@main.group()
def batch() -> None:
    """Batch jobs: send a CSV to many recipients, watch, export, pause/resume/cancel."""


class MultipartUpload:
    """The body of a batch upload: form fields, then the CSV file, streamed from disk."""

    def __init__(self, fields: dict[str, str], path: Path) -> None:
        self.boundary = "smsgw-" + secrets.token_hex(12)
        head = bytearray()
        for name, value in fields.items():
            head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        filename = path.name.replace('"', "_")
        head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                 "Content-Type: text/csv\r\n\r\n").encode()
        self.head, self.tail, self.path = bytes(head), f"\r\n--{self.boundary}--\r\n".encode(), path
        self.length = len(self.head) + path.stat().st_size + len(self.tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def chunks(self) -> Iterator[bytes]:
        yield self.head
        with self.path.open("rb") as file:
            while chunk := file.read(_READ):
                yield chunk
        yield self.tail

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


@batch.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--template", "template_id", help="Template id; the CSV has one column per variable.")
@click.option("--text", help="Raw text instead of a template ({column} placeholders are filled).")
@click.option("--signature", help="Approved signature name.")
@click.option("--channel", help="Send through this channel instead of routing by number.")
@click.option("--send-at", help="Start time: unix seconds or ISO 8601 (e.g. 2026-12-01T09:30:00+08:00).")
@click.option("--encoding", help="The CSV's encoding if it is neither UTF-8 nor GBK.")
@click.option("--no-wait", is_flag=True, help="Print the created batch and return without watching it.")
@click.pass_obj
def send(ctx: CliContext, file: Path, template_id: str | None, text: str | None, signature: str | None,
         channel: str | None, send_at: str | None, encoding: str | None, no_wait: bool) -> None:
    """Upload FILE.csv (a `to` column plus one column per template variable) as a batch, show a
    progress bar until it is done, then the summary."""
    import httpx

    from .http.auth import signature as hmac_signature
    from .http.auth import string_to_sign

    if (template_id is None) == (text is None):
        raise click.UsageError("give exactly one of --template and --text")
    fields = {k: v for k, v in {"template_id": template_id, "text": text, "signature": signature,
                                "channel": channel, "send_at": send_at, "encoding": encoding}.items() if v}
    body = MultipartUpload(fields, file)
    key, secret = _credentials()
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    digest = body.sha256()
    headers = {"content-type": body.content_type, "X-Api-Key": key, "X-Timestamp": timestamp, "X-Nonce": nonce,
               "X-Signature": hmac_signature(secret, string_to_sign("POST", "/v1/batches", timestamp, nonce, digest)),
               "X-Content-SHA256": digest}  # the signature is checked before the upload is read
    try:
        with httpx.Client(timeout=httpx.Timeout(30, read=None)) as client:
            response = client.post(_api_url(ctx) + "/v1/batches", content=body.chunks(), headers=headers)
    except httpx.HTTPError as exc:
        raise Failed(f"cannot reach the gateway at {_api_url(ctx)}: {exc}") from None
    payload = api_payload(response)
    click.echo(f"batch {payload['id']}: {payload['total']} rows, {payload['accepted']} accepted, "
               f"{payload['rejected']} rejected", err=True)
    if no_wait:
        click.echo(json.dumps(payload))
        return
    progress = _watch(ctx, payload["id"], payload["accepted"])
    _summary(progress)


def _watch(ctx: CliContext, batch_id: str, accepted: int) -> dict[str, Any]:
    progress = api_call(ctx, "GET", f"/v1/batches/{batch_id}")
    with click.progressbar(length=max(accepted, 1), label=f"batch {batch_id}", file=sys.stderr,
                           show_pos=True) as bar:
        shown = 0
        while True:
            finished = progress["delivered"] + progress["failed"] + progress.get("cancelled", 0)
            bar.label = f"batch {batch_id} {progress['state']}"
            bar.update(finished - shown)
            shown = finished
            if progress["state"] in _FINAL:
                return progress  # type: ignore[no-any-return]
            time.sleep(1.0)
            progress = api_call(ctx, "GET", f"/v1/batches/{batch_id}")


def _summary(progress: dict[str, Any]) -> None:
    lines = [f"batch {progress['id']}: {progress['state']}"]
    for name in ("total", "accepted", "rejected", "submitted", "delivered", "failed", "cancelled", "pending"):
        if name in progress:
            lines.append(f"  {name:<10} {progress[name]}")
    if progress.get("failed") or progress.get("rejected"):
        lines.append(f"  details: smsgw batch export {progress['id']} --status failed (or rejected)")
    click.echo("\n".join(lines))


@batch.command("export")
@click.argument("batch_id")
@click.option("--status", type=click.Choice(["delivered", "failed", "rejected", "pending"]),
              help="Only recipients with this outcome (default: all).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout.")
@click.pass_obj
def export(ctx: CliContext, batch_id: str, status: str | None, output: Path | None) -> None:
    """CSV of a batch's recipients: to,status,error,message_id,reason."""
    import httpx

    path = f"/v1/batches/{batch_id}/recipients" + (f"?status={status}" if status else "")
    try:
        with api_stream(ctx, path, httpx.Timeout(30, read=120)) as response:
            out = output.open("wb") if output else sys.stdout.buffer
            try:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            finally:
                if output:
                    out.close()
                else:
                    out.flush()
    except httpx.HTTPError as exc:
        raise Failed(f"export of batch {batch_id} failed: {exc}") from None


@batch.command("list")
@click.option("--state", help="Only batches in this state.")
@click.option("--q", "text", help="Only batches whose text contains this.")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@click.pass_obj
def list_batches(ctx: CliContext, state: str | None, text: str | None, limit: int, as_json: bool) -> None:
    """Batch history, newest first."""
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in {"state": state, "q": text, "limit": limit}.items() if v})
    data = api_call(ctx, "GET", f"/v1/batches?{query}")
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'ID':<20} {'STATE':<10} {'TOTAL':>8} {'ACCEPTED':>8} {'REJECTED':>8}  CREATED              TEXT")
    for item in data["items"]:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["created_at"]))
        content = (item["text"] or item["template_id"] or "")[:40]
        click.echo(f"{item['id']:<20} {item['state']:<10} {item['total']:>8} {item['accepted']:>8} "
                   f"{item['rejected']:>8}  {created}  {content}")


@batch.command("show")
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@click.pass_obj
def show(ctx: CliContext, batch_id: str, as_json: bool) -> None:
    """Progress of one batch."""
    progress = api_call(ctx, "GET", f"/v1/batches/{batch_id}")
    if as_json:
        click.echo(json.dumps(progress, ensure_ascii=False, indent=2))
    else:
        _summary(progress)


def _control(action: str) -> None:
    @batch.command(action, help=f"{action.capitalize()} a batch.")
    @click.argument("batch_id")
    @click.pass_obj
    def command(ctx: CliContext, batch_id: str) -> None:
        result = api_call(ctx, "POST", f"/v1/batches/{batch_id}/{action}")
        click.echo(f"batch {result['id']}: {result['state']}")


for _action in ("pause", "resume", "cancel"):
    _control(_action)
