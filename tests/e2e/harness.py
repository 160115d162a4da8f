"""An in-process gateway against in-process simulators, on 127.0.0.1 port 0, for tests.

``gateway_with_sims(tmp_path)`` starts one simulator per protocol (SimServer on port 0), writes
a channels.toml pointing at them and a SQLite file under ``tmp_path``, runs ``smsgw.app.run``
and yields a ``Harness`` with a signing HTTP client. The daemon's code never imports the
simulators; only this test harness puts them side by side.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

from simulators.cli import adapter_for
from simulators.config import SimConfig
from simulators.server import SimServer
from smsgw.app import Gateway, run
from smsgw.config import load
from smsgw.http.auth import sign
from smsgw.keys import insert_key, new_key
from smsgw.store import migrate
from smsgw.store.engine import make_engine

ACCOUNTS = {"smpp": ("smsgw", "secret"), "cmpp": ("901234", "secret"), "smgp": ("12345678", "secret")}
PROTOCOL_OF = {"smpp": "smpp", "cmpp": "cmpp3", "smgp": "smgp"}
ROUTES = {"smpp": '["130", "+"]', "cmpp": '["138", "139"]', "smgp": '["133"]'}


@dataclass
class Harness:
    gateway: Gateway
    sims: dict[str, SimServer]
    key: str
    secret: str
    base: str
    config_path: Path
    client: httpx.AsyncClient = field(init=False)

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        data = b"" if body is None else json.dumps(body).encode()
        headers = sign(self.secret, method, path, data, key_id=self.key)
        return await self.client.request(method, self.base + path, content=data, headers=headers)

    async def wait_status(self, message_id: str, statuses: set[str], timeout: float = 10) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                found = (await self.call("GET", f"/v1/messages/{message_id}")).json()
                if found["status"] in statuses:
                    return found  # type: ignore[no-any-return]
                await trio.sleep(0.05)


def write_config(tmp_path: Path, ports: dict[str, int], **channel_extra: Any) -> Path:
    lines = ['[gateway]', 'http = "127.0.0.1:0"', f'database = "sqlite:///{tmp_path / "smsgw.db"}"',
             "drain_timeout = 2", ""]
    for name, port in ports.items():
        username, password = ACCOUNTS[name]
        lines += ["[[channel]]", f'name = "{name}-sim"', f'protocol = "{PROTOCOL_OF[name]}"', 'host = "127.0.0.1"',
                  f"port = {port}", f'username = "{username}"', f'password = "{password}"', "binds = 1",
                  "window = 16", "tps = 5000", f"prefixes = {ROUTES[name]}", 'source = "10690000"',
                  "reconnect_min = 0.05", "reconnect_max = 0.5", "response_timeout = 2", "keepalive = 5"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in channel_extra.get(name, {}).items()]
        lines.append("")
    path = tmp_path / "channels.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@asynccontextmanager
async def gateway_with_sims(
    tmp_path: Path, *, sim_options: dict[str, dict[str, Any]] | None = None,
    channel_options: dict[str, dict[str, Any]] | None = None, protocols: tuple[str, ...] = ("smpp", "cmpp", "smgp"),
) -> AsyncIterator[Harness]:
    async with trio.open_nursery() as nursery:
        sims: dict[str, SimServer] = {}
        ports: dict[str, int] = {}
        for name in protocols:
            username, password = ACCOUNTS[name]
            options = {"dlr_delay": 0.05, "seed": 1, **(sim_options or {}).get(name, {})}
            sim = SimServer(SimConfig(protocol=name, accounts={username: password}, **options),
                            adapter_for(SimConfig(protocol=name, **{k: v for k, v in options.items()
                                                                   if k == "cmpp_version"})),
                            log=lambda line: None)
            sims[name] = sim
            ports[name] = await nursery.start(sim.serve)
        config_path = write_config(tmp_path, ports, **(channel_options or {}))
        config = load(config_path)
        migrate.upgrade(config.gateway.database)
        key = new_key("test", admin=True)
        engine = make_engine(config.gateway.database, pool_size=1)
        with engine.begin() as conn:
            insert_key(conn, key)
        engine.dispose()
        stopped = trio.Event()

        async def run_gateway(task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await run(config, task_status=task_status)
            finally:
                stopped.set()

        gateway: Gateway = await nursery.start(run_gateway)
        harness = Harness(gateway, sims, key.id, key.secret, f"http://127.0.0.1:{gateway.http_port}", config_path)
        async with httpx.AsyncClient(timeout=10) as client:
            harness.client = client
            yield harness
        gateway.stop.set()
        with trio.fail_after(10):
            await stopped.wait()
        nursery.cancel_scope.cancel()
