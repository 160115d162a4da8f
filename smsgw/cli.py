"""``smsgw``: the daemon and the ops commands (CONTRACT §3).

Exit codes: 0 ok, 1 the operation failed, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
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


if __name__ == "__main__":
    sys.exit(main())
