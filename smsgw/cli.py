"""``smsgw``: the daemon and the ops commands (CONTRACT §3).

Exit codes: 0 ok, 1 the operation failed, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from protocols.errors import RemoteProtocolError

PROTOCOL_NAMES = {"smpp": "SMPP 3.4", "cmpp2": "CMPP 2.0", "cmpp3": "CMPP 3.0", "smgp": "SMGP 3.0"}


@dataclass(slots=True)
class CliContext:
    config_path: str
    url: str | None


class Failed(click.ClickException):
    """The operation failed (exit code 1)."""

    exit_code = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", default="channels.toml", show_default=True,
              envvar="SMSGW_CONFIG", help="Path of channels.toml.")
@click.option("--url", default=None, envvar="SMSGW_URL",
              help="Address of a running daemon's API (default: [gateway].http of the config).")
@click.pass_context
def main(ctx: click.Context, config_path: str, url: str | None) -> None:
    """smsgw: carrier-protocol SMS gateway (SMPP 3.4, CMPP 2.0/3.0, SMGP 3.0)."""
    ctx.obj = CliContext(config_path, url)


def decode_pdu(protocol: str, data: bytes) -> dict[str, Any]:
    """Decode one whole PDU and describe it; raise RemoteProtocolError when malformed."""
    if protocol == "smpp":
        from protocols import smpp

        return smpp.describe(smpp.decode(data))
    if protocol in ("cmpp2", "cmpp3"):
        from protocols import cmpp

        version = 2 if protocol == "cmpp2" else 3
        return cmpp.describe(cmpp.decode(data, version=version), version=version)
    from protocols import smgp

    return smgp.describe(smgp.decode(data))


@main.command()
@click.option("--protocol", required=True, type=click.Choice(sorted(PROTOCOL_NAMES)),
              help="Protocol and version of the PDU.")
@click.argument("hex_digits", nargs=-1, required=True, metavar="HEX")
def decode(protocol: str, hex_digits: tuple[str, ...]) -> None:
    """Decode one PDU given as hex (spaces allowed) and print its fields as JSON.

    Example: smsgw decode --protocol smpp 0000001000000015000000000000002A
    """
    text = "".join(hex_digits).replace(" ", "").replace(":", "")
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter("expected an even number of hex digits (0-9, a-f)", param_hint="HEX") from None
    name = PROTOCOL_NAMES[protocol]
    if len(data) >= 4:
        declared = int.from_bytes(data[:4], "big")
        if declared != len(data):
            raise Failed(
                f"malformed {name} PDU: the length field at offset 0 says {declared} octets, "
                f"but {len(data)} were given"
            )
    try:
        described = decode_pdu(protocol, data)
    except RemoteProtocolError as exc:
        raise Failed(f"malformed {name} PDU: {exc}") from None
    click.echo(json.dumps(described, ensure_ascii=False, indent=2))


def _load_config(ctx: CliContext) -> Any:
    from .config import ConfigError, load

    try:
        return load(ctx.config_path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _configure_logging(json_lines: bool | None = None) -> None:
    import logging

    import structlog

    pretty = sys.stderr.isatty() if json_lines is None else not json_lines
    renderer = structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


@main.command()
@click.option("--json-logs/--pretty-logs", default=None,
              help="Log format (default: pretty on a terminal, JSON lines otherwise, e.g. under systemd).")
@click.pass_obj
def serve(ctx: CliContext, json_logs: bool | None) -> None:
    """Run the gateway daemon in the foreground until SIGTERM/SIGINT (graceful stop, exit 0)."""
    import trio

    from .app import run
    from .store.errors import StoreError

    config = _load_config(ctx)
    _configure_logging(json_logs)
    _tune_gc()
    try:
        trio.run(run, config)
    except StoreError as exc:
        raise click.UsageError(str(exc)) from None


def _tune_gc() -> None:
    """Every message in flight is a few dozen GC-tracked objects (rows, jobs, PDUs, ops) that
    live until its receipt. With the default thresholds (a young collection every 700
    allocations) they reach the oldest generation, and full collections rescanning that heap
    cost the daemon about a fifth of its CPU and tens of milliseconds of pause at a time
    (docs/benchmarks.md: batched 6.2k -> 7.9k msg/s, one-per-POST p99 at 1,500/s 53 -> 15 ms).
    Collect young objects every 50k allocations, so most die young, and leave the startup
    heap out of every collection. Only the ``serve`` process: tests running the app in-process
    keep their own settings."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.pass_obj
def upgrade(ctx: CliContext) -> None:
    """Apply the schema migrations to the configured database."""
    from .store import migrate
    from .store.engine import masked
    from .store.errors import StoreError

    config = _load_config(ctx)
    try:
        before = migrate.current_revision(config.gateway.database)
        migrate.upgrade(config.gateway.database)
    except StoreError as exc:
        raise Failed(str(exc)) from None
    after = migrate.head_revision()
    click.echo(f"{masked(config.gateway.database)}: schema {before or 'empty'} -> {after}")


def _api_url(ctx: CliContext) -> str:
    if ctx.url:
        return ctx.url.rstrip("/")
    config = _load_config(ctx)
    scheme = "https" if config.gateway.tls_cert else "http"
    return f"{scheme}://{config.gateway.http}"


def _credentials() -> tuple[str, str]:
    import os

    key, secret = os.environ.get("SMSGW_KEY"), os.environ.get("SMSGW_SECRET")
    if not key or not secret:
        raise click.UsageError("set SMSGW_KEY and SMSGW_SECRET (create a key with `smsgw keys create`)")
    return key, secret


def _signed_request(ctx: CliContext, method: str, path: str, body: Any = None) -> Any:
    """An ``httpx.Request`` to the daemon signed with SMSGW_KEY / SMSGW_SECRET."""
    import httpx

    from .http.auth import sign

    key, secret = _credentials()
    data = b"" if body is None else json.dumps(body).encode()
    request = httpx.Request(method, _api_url(ctx) + path, content=data,
                            headers={"content-type": "application/json"} if body is not None else {})
    target = request.url.raw_path.decode("ascii")
    request.headers.update(sign(secret, method, target, data, key_id=key))
    return request


def _api_failure(status: int, payload: Any, text: str) -> Failed:
    error = (payload or {}).get("error", {}) if isinstance(payload, dict) else {}
    return Failed(f"{status} {error.get('code', 'error')}: {error.get('message', text)}")


def api_call(ctx: CliContext, method: str, path: str, body: Any = None) -> Any:
    """A signed request to the running daemon; Failed with the API's own error message."""
    import httpx

    request = _signed_request(ctx, method, path, body)
    try:
        with httpx.Client(timeout=30) as client:
            response = client.send(request)
    except httpx.HTTPError as exc:
        raise Failed(f"cannot reach the gateway at {_api_url(ctx)}: {exc}") from None
    return api_payload(response)


@contextmanager
def api_stream(ctx: CliContext, path: str, timeout: Any) -> Iterator[Any]:
    """A signed GET of a streamed route (an export, a trace) of the running daemon: the open
    ``httpx`` response, read as it arrives; Failed with the API's own error message on a
    4xx/5xx. Callers catch ``httpx.HTTPError`` to say what could not be done."""
    import httpx

    request = _signed_request(ctx, "GET", path)
    with httpx.Client(timeout=timeout) as client:
        response = client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                api_payload(response)
            yield response
        finally:
            response.close()


def api_payload(response: Any) -> Any:
    """The JSON of a read API response; Failed with the API's own error message on a 4xx/5xx."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code >= 400:
        raise _api_failure(response.status_code, payload, response.text)
    return payload


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@click.pass_obj
def channels(ctx: CliContext, as_json: bool) -> None:
    """Status of every channel and session of the running daemon."""
    data = api_call(ctx, "GET", "/v1/channels")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    header = f"{'CHANNEL':<14} {'PROTO':<6} {'BOUND':>5} {'IN-FLIGHT':>9} {'TPS':>6} {'QUEUE':>7}  LAST ERROR"
    click.echo(header)
    for ch in data:
        errors = [s["last_error"] for s in ch["sessions"] if s["last_error"]]
        click.echo(f"{ch['name']:<14} {ch['protocol']:<6} {ch['bound']:>2}/{ch['binds']:<2} "
                   f"{ch['in_flight']:>4}/{ch['window'] * ch['binds']:<4} {ch['tps']:>6g} {ch['queue_depth']:>7}  "
                   f"{errors[0] if errors else '-'}")
        for s in ch["sessions"]:
            click.echo(f"  session {s['index']}: {s['state']:<10} in-flight {s['in_flight']:>4}  "
                       f"reconnects {s['reconnects']}")


@main.command()
@click.option("--to", required=True, help="Destination number.")
@click.option("--text", default=None, help="Message text.")
@click.option("--template", default=None, help="Template id (instead of --text).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="Template parameter (repeatable).")
@click.option("--signature", default=None, help="Approved signature name.")
@click.option("--channel", default=None, help="Send through this channel instead of routing by prefix.")
@click.option("--client-ref", default=None, help="Idempotency reference.")
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Then wait up to SECONDS for the final status and print it (exit 1 unless delivered).")
@click.pass_obj
def send(ctx: CliContext, to: str, text: str | None, template: str | None, params: tuple[str, ...],
         signature: str | None, channel: str | None, client_ref: str | None, wait_seconds: float | None) -> None:
    """Submit one message through the HTTP API and print its id."""
    if (text is None) == (template is None):
        raise click.UsageError("give exactly one of --text and --template")
    body: dict[str, Any] = {"to": to}
    if text is not None:
        body["text"] = text
    else:
        pairs = [p.partition("=") for p in params]
        if any(not sep for _, sep, _ in pairs):
            raise click.UsageError("--param takes K=V")
        body["template_id"], body["params"] = template, {k: v for k, _, v in pairs}
    for name, value in (("signature", signature), ("channel", channel), ("client_ref", client_ref)):
        if value is not None:
            body[name] = value
    result = api_call(ctx, "POST", "/v1/messages", body)
    click.echo(result["id"])
    if wait_seconds is not None:
        import time

        deadline = time.monotonic() + wait_seconds
        while (message := api_call(ctx, "GET", f"/v1/messages/{result['id']}"))["status"] not in FINAL_STATUSES \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        _print_message(message)
        if message["status"] != "delivered":
            raise Failed(f"message {result['id']} is {message['status']}")


FINAL_STATUSES = frozenset({"delivered", "failed", "expired", "rejected"})


def _print_message(message: dict[str, Any]) -> None:
    error = message.get("error") or {}
    click.echo(f"{message['id']}  {message['status']}  to {message['to']} via {message['channel']}"
               + (f"  error {error.get('code')}: {error.get('message')}" if error else ""))
    for part in message["segments"]:
        receipt = (f"  stat {part['stat']}" if part["stat"] else "") + (f" err {part['err']}" if part["err"] else "")
        click.echo(f"  segment {part['index']}: {part['status']:<10} smsc_id {part['smsc_id'] or '-'}{receipt}")


@main.command()
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON of GET /v1/messages/{id}.")
@click.pass_obj
def status(ctx: CliContext, message_id: str, as_json: bool) -> None:
    """Status of one message and of each of its segments."""
    message = api_call(ctx, "GET", f"/v1/messages/{message_id}")
    if as_json:
        click.echo(json.dumps(message, indent=2, ensure_ascii=False))
        return
    _print_message(message)


@main.command()
@click.argument("channel")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON lines as the daemon sends them.")
@click.pass_obj
def trace(ctx: CliContext, channel: str, as_json: bool) -> None:
    """Live stream of the decoded PDUs of CHANNEL's sessions until Ctrl-C (needs an admin key).

    One line per PDU: time, session, direction (> sent, < received), command, sequence,
    status of responses and the key fields (addresses, message ids, text, receipt stat).
    """
    from urllib.parse import quote

    import httpx

    path = f"/v1/channels/{quote(channel, safe='')}/trace"
    try:
        # keep-alive lines come every few seconds: a minute of silence means the daemon is gone
        with api_stream(ctx, path, httpx.Timeout(30, read=60)) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue  # keep-alive
                if as_json:
                    click.echo(line)
                else:
                    click.echo(format_trace_line(json.loads(line)))
    except KeyboardInterrupt:
        return
    except httpx.HTTPError as exc:
        raise Failed(f"trace of {channel} interrupted: cannot reach the gateway at {_api_url(ctx)}: {exc}") from None
    raise Failed(f"the gateway ended the trace of {channel} (is it stopping?)")


def format_trace_line(line: dict[str, Any]) -> str:
    """One readable line for a trace JSON line."""
    import time as _time

    at = line.get("time")
    stamp = ""
    if isinstance(at, int | float):
        stamp = _time.strftime("%H:%M:%S", _time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"
    if "subscribed" in line:
        sessions = ", ".join(f"{s['session']}:{s['state']}" for s in line.get("sessions", []))
        return f"{stamp} tracing {line['subscribed']} ({line.get('protocol')}; sessions {sessions}); Ctrl-C to stop"
    if "dropped" in line:
        return f"{stamp} ... {line['dropped']} PDUs dropped (this terminal reads too slowly)"
    arrow = ">" if line.get("direction") == "out" else "<"
    head = f"{stamp} s{line.get('session')} {arrow} {line.get('command')!s:<22} seq={line.get('sequence')}"
    if line.get("status") is not None:
        name = line.get("status_name")
        head += f" status={line['status']}" + (f"({name})" if name else "")
    parts = []
    for name, value in (line.get("fields") or {}).items():
        if isinstance(value, str):
            text = json.dumps(value, ensure_ascii=False) if name == "text" or " " in value else value
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        parts.append(f"{name}={text}")
    return head + ("  " + " ".join(parts) if parts else "")


# the feature commands register themselves on ``main``
from . import cli_batch, cli_content, cli_keys, cli_lists, cli_stats  # noqa: E402,F401

if __name__ == "__main__":
    # ``python -m smsgw.cli`` runs a second copy of this module; the feature modules above
    # registered their commands on the importable one
    from smsgw.cli import main as registered_main

    sys.exit(registered_main())
