"""``smsc-sim``: run simulated operator SMSCs (CONTRACT §4).

Each subcommand runs one simulator until SIGTERM/SIGINT, then prints a JSON summary of what
it saw to stdout and exits 0. ``smsc-sim all`` runs one of each protocol on the
conventional ports with the accounts of ``channels.toml``.
"""

from __future__ import annotations

import gc
import json
import signal
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import trio

from .adapter import Adapter
from .config import ZOO, ConfigError, SimConfig, parse_accounts, parse_error_ratios, parse_outcomes
from .server import SimServer

DEFAULT_PORTS = {"smpp": 2775, "cmpp": 7890, "smgp": 8890}


def adapter_for(config: SimConfig) -> Adapter:
    if config.protocol == "smpp":
        from .smpp import SmppAdapter

        return SmppAdapter(config)
    if config.protocol == "cmpp":
        from .cmpp import CmppAdapter

        return CmppAdapter(config)
    from .smgp import SmgpAdapter

    return SmgpAdapter(config)


async def run_servers(configs: list[SimConfig], report: Callable[[list[dict[str, Any]]], None]) -> None:
    servers = [SimServer(config, adapter_for(config)) for config in configs]
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            for server in servers:
                await nursery.start(server.serve)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break
    report([server.summary() for server in servers])


def _print_summary(summaries: list[dict[str, Any]]) -> None:
    out = summaries[0] if len(summaries) == 1 else {"simulators": summaries}
    print(json.dumps(out), flush=True)


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on."),
        click.option("--port", type=int, default=None, help="TCP port (default: the protocol's usual port)."),
        click.option("--account", "accounts", multiple=True, metavar="ID:SECRET",
                     help="Accepted credentials (repeatable). SMPP: system_id:password; CMPP: SP_Id "
                     "(Source_Addr):shared secret; SMGP: ClientID:shared secret. Default test:test."),
        click.option("--window", type=int, default=16, show_default=True,
                     help="Max outstanding requests tolerated per session; excess gets the throttling/"
                     "flow-control error."),
        click.option("--tps", type=float, default=0, show_default=True,
                     help="Submits per second per account (0 = unlimited); excess gets the throttling "
                     "error (SMPP 0x58, CMPP result 8, SMGP status 1)."),
        click.option("--max-binds", type=int, default=0, show_default=True,
                     help="Sessions allowed per account at once (0 = unlimited)."),
        click.option("--dlr-delay", type=float, default=1.0, show_default=True,
                     help="Seconds between a submit and its delivery receipt."),
        click.option("--dlr-outcomes", default="DELIVRD=1", show_default=True, metavar="STAT=P,...",
                     help="Receipt outcome distribution, e.g. DELIVRD=0.97,UNDELIV=0.02,EXPIRED=0.01 "
                     "(CMPP also takes gateway codes such as MK:0001)."),
        click.option("--mo-rate", type=float, default=0, show_default=True,
                     help="Mobile-originated messages per second sent to bound receivers (some long, "
                     "split in segments, sometimes out of order)."),
        click.option("--disconnect-every", type=float, default=0, show_default=True, metavar="SECONDS",
                     help="Fault: drop every session at this interval, without unbind."),
        click.option("--record", type=click.Path(dir_okay=False), default=None,
                     help="Append one JSON line per received submit (decoded fields, the message id "
                     "answered, segment info)."),
        click.option("--id-format", type=click.Choice(["dec", "hex"]), default="dec", show_default=True,
                     help="SMPP: format of the message_id in submit_sm_resp."),
        click.option("--dlr-id-format", type=click.Choice(["dec", "hex"]), default=None,
                     help="SMPP: format of the id in receipts (default: same as --id-format; set the "
                     "other one to simulate the hex/decimal skew of real SMSCs)."),
        click.option("--dlr-before-resp", is_flag=True,
                     help="Fault: send the receipt before the submit response."),
        click.option("--drop-resp-ratio", type=float, default=0, show_default=True,
                     help="Fault: share of submits that get no response at all."),
        click.option("--error-ratio", multiple=True, metavar="CODE=P",
                     help="Fault: answer this share of submits with status CODE (repeatable), "
                     "e.g. 0x58=0.05 or 8=0.1."),
        click.option("--slow-resp-ms", type=float, default=0, show_default=True,
                     help="Fault: delay every submit response by this many milliseconds."),
        click.option("--reject-bind", is_flag=True, help="Fault: refuse every bind/login (auth error)."),
        click.option("--zoo", multiple=True, type=click.Choice(sorted(ZOO)),
                     help="Misbehaving SMSC modes (repeatable): "
                     + "; ".join(f"{k}: {v}" for k, v in ZOO.items())),
        click.option("--keepalive", type=float, default=30, show_default=True,
                     help="Seconds of silence before the simulator sends its own keepalive."),
        click.option("--idle-timeout", type=float, default=120, show_default=True,
                     help="Close sessions silent for this many seconds."),
        click.option("--seed", type=int, default=None,
                     help="Seed of the fault/outcome RNG (reproducible runs)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_config(protocol: str, cmpp_version: int = 3, **opts: Any) -> SimConfig:
    accounts = parse_accounts(opts.pop("accounts") or ("test:test",))
    port = opts.pop("port")
    return SimConfig(
        protocol=protocol,
        port=DEFAULT_PORTS[protocol] if port is None else port,
        cmpp_version=cmpp_version,
        accounts=accounts,
        dlr_outcomes=parse_outcomes(opts.pop("dlr_outcomes")),
        error_ratio=parse_error_ratios(opts.pop("error_ratio")),
        zoo=tuple(opts.pop("zoo")),
        **opts,
    )


def _run(configs: list[SimConfig]) -> None:
    _tune_gc()
    trio.run(run_servers, configs, _print_summary)


def _tune_gc() -> None:
    """Every accepted message lives for ``--dlr-delay`` seconds as a dozen GC-tracked
    objects. With the default thresholds (a young collection every 700 allocations) they
    all survive into the oldest generation, and full collections rescanning the heap took
    a quarter of the CPU at 30k submits/s. Collect young objects every 50k allocations
    instead, so most die before they are promoted, and leave the startup heap (modules,
    click, trio) out of every collection. Only the ``smsc-sim`` process: a test running a
    SimServer in-process keeps its own settings."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Simulated operator SMSCs speaking real SMPP 3.4, CMPP 2.0/3.0 and SMGP 3.0 on TCP."""


@main.command()
@common_options
def smpp(**opts: Any) -> None:
    """Simulate an SMPP 3.4 SMSC (default port 2775)."""
    _run([_config_or_exit("smpp", **opts)])


@main.command()
@click.option("--version", "cmpp_version", type=click.Choice(["2", "3"]), default="3", show_default=True,
              help="CMPP version: 2 (CMPP 2.0 layouts) or 3 (CMPP 3.0).")
@common_options
def cmpp(cmpp_version: str, **opts: Any) -> None:
    """Simulate a China Mobile CMPP ISMG (default port 7890)."""
    _run([_config_or_exit("cmpp", cmpp_version=int(cmpp_version), **opts)])


@main.command()
@common_options
def smgp(**opts: Any) -> None:
    """Simulate a China Telecom SMGP 3.0 gateway (default port 8890)."""
    _run([_config_or_exit("smgp", **opts)])


@main.command(name="all")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default="channels.toml",
              show_default=True, help="Take the accounts (and CMPP version) from this channels.toml.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--dlr-delay", type=float, default=1.0, show_default=True)
@click.option("--dlr-outcomes", default="DELIVRD=0.95,UNDELIV=0.03,EXPIRED=0.02", show_default=True)
@click.option("--mo-rate", type=float, default=0.0, show_default=True)
@click.option("--record", type=click.Path(dir_okay=False), default=None,
              help="Record file; each simulator appends to it.")
def all_(config_path: str, host: str, dlr_delay: float, dlr_outcomes: str, mo_rate: float,
         record: str | None) -> None:
    """One simulator per protocol on ports 2775/7890/8890 with channels.toml's accounts."""
    accounts, cmpp_version = _accounts_from_channels(Path(config_path))
    configs = []
    for protocol in ("smpp", "cmpp", "smgp"):
        configs.append(
            SimConfig(
                protocol=protocol, host=host, port=DEFAULT_PORTS[protocol], cmpp_version=cmpp_version,
                accounts=accounts.get(protocol) or {"test": "test"}, dlr_delay=dlr_delay,
                dlr_outcomes=_or_exit(parse_outcomes, dlr_outcomes), mo_rate=mo_rate, record=record,
            )
        )
    _run(configs)


def _accounts_from_channels(path: Path) -> tuple[dict[str, dict[str, str]], int]:
    """Accounts per protocol from the [[channel]] tables (secrets written as env:NAME are
    read from the environment)."""
    import os

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.UsageError(f"{path}: file not found (give --config PATH)") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.UsageError(f"{path}: not valid TOML: {exc}") from None
    accounts: dict[str, dict[str, str]] = {}
    cmpp_version = 3
    for channel in data.get("channel", []):
        protocol = str(channel.get("protocol", ""))
        family = "cmpp" if protocol.startswith("cmpp") else protocol
        if family not in DEFAULT_PORTS:
            continue
        if protocol == "cmpp2":
            cmpp_version = 2
        secret = str(channel.get("password", ""))
        if secret.startswith("env:"):
            secret = os.environ.get(secret[4:], "")
        accounts.setdefault(family, {})[str(channel.get("username", ""))] = secret
    return accounts, cmpp_version


def _or_exit(parse: Callable[[str], Any], value: str) -> Any:
    try:
        return parse(value)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _config_or_exit(protocol: str, **opts: Any) -> SimConfig:
    try:
        return build_config(protocol, **opts)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
