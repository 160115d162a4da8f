"""``smsc-sim`` as users run it: flag parsing and help, a subprocess that prints its JSON
summary on SIGTERM, and ``smsc-sim all`` with the accounts of channels.toml."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from simulators.cli import main

from .client import bound_client, submit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["smpp", "--account", "nosecret"], "expected ID:SECRET"),
        (["smpp", "--dlr-outcomes", "DELIVRD=x"], "--dlr-outcomes"),
        (["cmpp", "--error-ratio", "8=1.5"], "--error-ratio"),
        (["smgp", "--zoo", "flaky"], "flaky"),
        (["smpp", "--id-format", "oct"], "oct"),
        (["cmpp", "--version", "4"], "4"),
        (["all", "--config", "/nonexistent/channels.toml"], "file not found"),
    ],
)
def test_bad_flags_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and message in result.output


def test_help_explains_every_flag() -> None:
    text = CliRunner().invoke(main, ["smpp", "--help"]).output
    for flag in ["--account", "--window", "--tps", "--max-binds", "--dlr-delay", "--dlr-outcomes", "--mo-rate",
                 "--disconnect-every", "--record", "--id-format", "--dlr-id-format", "--dlr-before-resp",
                 "--drop-resp-ratio", "--error-ratio", "--slow-resp-ms", "--reject-bind", "--zoo",
                 "--keepalive", "--idle-timeout", "--seed"]:
        assert flag in text
    assert "--version" in CliRunner().invoke(main, ["cmpp", "--help"]).output


async def start(args: list[str]) -> tuple[trio.Process, list[str]]:
    """Start ``smsc-sim ARGS``; return it once every simulator logged its listening line."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "simulators.cli", *args], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    expected = 3 if args[0] == "all" else 1
    lines: list[str] = []
    buffer = b""
    while sum("listening on" in line for line in lines) < expected:
        chunk = await process.stderr.receive_some(4096)
        assert chunk, f"smsc-sim exited: {buffer.decode()}"
        buffer += chunk
        *done, rest = buffer.split(b"\n")
        lines += [line.decode() for line in done]
        buffer = rest
    return process, lines


async def stop(process: trio.Process) -> dict:
    process.send_signal(signal.SIGTERM)
    output = b""
    while chunk := await process.stdout.receive_some(65536):
        output += chunk
    assert await process.wait() == 0
    return json.loads(output)


async def test_sigterm_prints_the_summary() -> None:
    with trio.fail_after(15):
        process, lines = await start(["smpp", "--port", "0", "--dlr-delay", "0.05"])
        port = int(lines[0].rsplit(":", 1)[1])
        client = await bound_client("smpp", port)
        await client.submit_all([submit("smpp") for _ in range(3)])
        await client.until(lambda: len(client.receipts) == 3)
        summary = await stop(process)
    assert summary["protocol"] == "smpp" and summary["port"] == port
    assert summary["binds"] == 1 and summary["submits"] == summary["accepted"] == summary["reports_sent"] == 3


def _ports_free(*ports: int) -> bool:
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


@pytest.mark.skipif(not _ports_free(2775, 7890, 8890), reason="another smsc-sim holds 2775/7890/8890")
async def test_all_serves_the_channels_accounts() -> None:
    with trio.fail_after(15):
        process, _ = await start(["all", "--config", str(ROOT / "channels.toml"), "--dlr-delay", "0.05"])
        try:
            for protocol, port, account in (("smpp", 2775, "smsgw"), ("cmpp", 7890, "901234"),
                                            ("smgp", 8890, "12345678")):
                client = await bound_client(protocol, port, account=account, secret="secret")
                await client.submit_all([submit(protocol)])
                await client.until(lambda c=client: len(c.receipts) == 1)
                await client.aclose()
        finally:
            summary = await stop(process)
    assert [s["protocol"] for s in summary["simulators"]] == ["smpp", "cmpp", "smgp"]
    assert all(s["accepted"] == 1 for s in summary["simulators"])
