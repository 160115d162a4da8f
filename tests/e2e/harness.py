"""An in-process gateway against in-process simulators, on 127.0.0.1 port 0, for tests.

``gateway_with_sims(tmp_path)`` starts one simulator per protocol (SimServer on port 0), writes
a channels.toml pointing at them and a SQLite file under ``tmp_path`` (or the database given as
``db_url``, e.g. a fresh PostgreSQL schema), runs ``smsgw.app.run`` and yields a ``Harness`` with
a signing HTTP client. The daemon's code never imports the simulators; only this test harness
puts them side by side.

A simulator can be replaced at run time by one with other options on the same port
(``Harness.restart_sim``): that is how a test flips an operator from refusing binds to
accepting them.
"""

from __future__ import annotations

import collections
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from sqlalchemy import func, select

from simulators.adapter import SubmitInfo
from simulators.cli import adapter_for
from simulators.config import SimConfig
from simulators.server import Outgoing, SimServer
from smsgw.app import Gateway, run
from smsgw.config import load
from smsgw.http.auth import sign
from smsgw.keys import ApiKey, insert_key, new_key
from smsgw.store import migrate
from smsgw.store.engine import make_engine
from smsgw.store.schema import messages, unmatched_reports

ACCOUNTS = {"smpp": ("smsgw", "secret"), "cmpp": ("901234", "secret"), "smgp": ("12345678", "secret")}
PROTOCOL_OF = {"smpp": "smpp", "cmpp": "cmpp3", "smgp": "smgp"}
ROUTES = {"smpp": ["130", "+"], "cmpp": ["138", "139"], "smgp": ["133"]}
#: one number per simulator's route
NUMBER = {"smpp": "13000000000", "cmpp": "13800138000", "smgp": "13300000000"}
FINAL = {"delivered", "failed", "expired", "rejected"}


def closed_port() -> int:
    """A local TCP port nothing listens on (an operator unreachable all along)."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return int(unused.getsockname()[1])


def number(protocol: str, i: int) -> str:
    """The ``i``-th distinct number routed to ``protocol``'s simulator."""
    return NUMBER[protocol][:3] + f"{i:08d}"


def sim_config(name: str, port: int = 0, **options: Any) -> SimConfig:
    username, password = ACCOUNTS[name]
    merged = {"dlr_delay": 0.05, "seed": 1, **options}
    return SimConfig(protocol=name, port=port, accounts={username: password}, **merged)


def new_sim(config: SimConfig) -> SimServer:
    return SimServer(config, adapter_for(config), log=lambda line: None)


@dataclass
class Harness:
    gateway: Gateway
    sims: dict[str, SimServer]
    key: str
    secret: str
    base: str
    config_path: Path
    nursery: trio.Nursery
    sim_scopes: dict[str, trio.CancelScope]
    stopped: trio.Event  # set when ``run`` has returned (the store is closed then)
    client: httpx.AsyncClient = field(init=False)

    # ---------------------------------------------------------------------- HTTP
    async def call(self, method: str, path: str, body: Any = None, *, key: tuple[str, str] | None = None,
                   raw: bytes | None = None) -> httpx.Response:
        data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        key_id, secret = key or (self.key, self.secret)
        headers = sign(secret, method, path, data, key_id=key_id)
        return await self.client.request(method, self.base + path, content=data, headers=headers)

    async def send(self, to: str, text: str = "hello", **extra: Any) -> str:
        response = await self.call("POST", "/v1/messages", {"to": to, "text": text, **extra})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def batch(self, recipients: Iterable[str], text: str = "batch text", **extra: Any) -> list[str]:
        """POST /v1/batches; returns the ids of the messages it created."""
        body = {"text": text, "recipients": [{"to": to} for to in recipients], **extra}
        response = await self.call("POST", "/v1/batches", body)
        assert response.status_code == 202, response.text
        batch_id = int(response.json()["id"])
        rows = await self.gateway.store.read(
            lambda conn: conn.execute(select(messages.c.id).where(messages.c.batch_id == batch_id)).all()
        )
        return [str(row.id) for row in rows]

    async def wait_status(self, message_id: str, statuses: set[str], timeout: float = 10) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                found = (await self.call("GET", f"/v1/messages/{message_id}")).json()
                if found["status"] in statuses:
                    return found  # type: ignore[no-any-return]
                await trio.sleep(0.05)

    # ------------------------------------------------------------------- store
    async def statuses(self, ids: Iterable[str]) -> collections.Counter[str]:
        wanted = [int(i) for i in ids]

        def count(conn: Any) -> collections.Counter[str]:
            out: collections.Counter[str] = collections.Counter()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                for status, n in conn.execute(
                    select(messages.c.status, func.count()).where(messages.c.id.in_(chunk))
                    .group_by(messages.c.status)
                ):
                    out[status] += n
            return out

        return await self.gateway.store.read(count)

    async def wait_final(self, ids: list[str], timeout: float = 15) -> collections.Counter[str]:
        """Poll until every message in ``ids`` is final; the count per final status."""
        with trio.fail_after(timeout):
            while True:
                counts = await self.statuses(ids)
                if sum(n for s, n in counts.items() if s in FINAL) == len(ids):
                    return counts
                await trio.sleep(0.05)

    async def unmatched(self) -> list[Any]:
        return await self.gateway.store.read(lambda conn: conn.execute(select(unmatched_reports)).all())

    async def metric(self, name: str) -> float:
        text = (await self.client.get(self.base + "/metrics")).text
        total = 0.0
        for match in re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M):
            total += float(match.group(1))
        return total

    def read_db(self, fn: Any) -> Any:
        """Run ``fn(conn)`` on a connection of its own (usable after the gateway stopped)."""
        engine = make_engine(self.gateway.config.gateway.database, pool_size=1)
        try:
            with engine.connect() as conn:
                return fn(conn)
        finally:
            engine.dispose()

    def new_key(self, *, admin: bool = False, allow_text: bool = True) -> tuple[str, str]:
        key = new_key("other", admin=admin, allow_text=allow_text)
        _insert_key(self.gateway.config.gateway.database, key)
        return key.id, key.secret

    # -------------------------------------------------------------- simulators
    async def restart_sim(self, name: str, **options: Any) -> SimServer:
        """Stop simulator ``name`` (dropping its sessions) and start a new one with
        ``options`` on the same port."""
        old = self.sims[name]
        self.sim_scopes[name].cancel()
        with trio.fail_after(5):
            while old.connections:
                await trio.sleep(0.01)
        sim = new_sim(sim_config(name, port=old.port or 0, **options))
        self.sims[name], self.sim_scopes[name] = sim, (await self.nursery.start(_serve_sim, sim))[1]
        return sim

    def inject_deliver(self, name: str, pdu: Any) -> None:
        """Make simulator ``name`` send ``pdu`` (a deliver request) on a bound session."""
        sim = self.sims[name]
        conn = next(c for c in sim.connections if c.account is not None and sim.adapter.can_receive(c.session))
        conn.outbox.append(Outgoing("mo", pdu))
        conn.pump()

    def inject_receipt(self, name: str, stat: str = "DELIVRD") -> str:
        """Make simulator ``name`` send a receipt for a message id it never gave out, on a
        bound session; returns that id as the receipt writes it."""
        sim = self.sims[name]
        info = SubmitInfo("10690000", [NUMBER[name]], b"", 0, "", True, None, {"registered_delivery": 1})
        accepted = sim.adapter.new_message_id(time.time())
        self.inject_deliver(name, sim.adapter.receipt(info, accepted, stat, time.time()))
        return accepted.text_id


async def _serve_sim(sim: SimServer, *, task_status: trio.TaskStatus[tuple[int, trio.CancelScope]]) -> None:
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(sim.serve)
            task_status.started((port, scope))


def _insert_key(url: str, key: ApiKey) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            insert_key(conn, key)
    finally:
        engine.dispose()


def write_config(tmp_path: Path, ports: dict[str, int], *, database: str | None = None,
                 gateway: dict[str, Any] | None = None, policy: dict[str, Any] | None = None,
                 http: dict[str, Any] | None = None, **channel_extra: Any) -> Path:
    """A channels.toml for ``ports``; ``policy`` defaults to no content review and no frequency limits (the
    core tests send raw text without signatures, many to one number); platform tests pass their own."""
    database = database or f"sqlite:///{tmp_path / 'smsgw.db'}"
    settings = {"http": "127.0.0.1:0", "database": database, "drain_timeout": 2, **(gateway or {})}
    lines = ["[gateway]", *(f"{k} = {json.dumps(v)}" for k, v in settings.items()), ""]
    policy = {"content_review": False, "frequency_limits": False} if policy is None else policy
    lines += ["[policy]", *(f"{k} = {_toml(v)}" for k, v in policy.items()), ""]
    lines += ["[http]", *(f"{k} = {_toml(v)}" for k, v in (http or {}).items()), ""]
    for name, port in ports.items():
        username, password = ACCOUNTS[name]
        channel = {"name": f"{name}-sim", "protocol": PROTOCOL_OF[name], "host": "127.0.0.1", "port": port,
                   "username": username, "password": password, "binds": 1, "window": 16, "tps": 5000,
                   "prefixes": ROUTES[name], "source": "10690000", "reconnect_min": 0.05, "reconnect_max": 0.5,
                   "response_timeout": 2, "keepalive": 5, **channel_extra.get(name, {})}
        lines += ["[[channel]]", *(f"{k} = {json.dumps(v)}" for k, v in channel.items()), ""]
    path = tmp_path / "channels.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@asynccontextmanager
async def gateway_with_sims(
    tmp_path: Path, *, sim_options: dict[str, dict[str, Any]] | None = None,
    channel_options: dict[str, dict[str, Any]] | None = None, protocols: tuple[str, ...] = ("smpp", "cmpp", "smgp"),
    db_url: str | None = None, gateway_options: dict[str, Any] | None = None,
    ports: dict[str, int] | None = None, policy: dict[str, Any] | None = None, http: dict[str, Any] | None = None,
) -> AsyncIterator[Harness]:
    """``ports`` adds channels to servers the test runs itself (no simulator started)."""
    async with trio.open_nursery() as nursery:
        sims: dict[str, SimServer] = {}
        scopes: dict[str, trio.CancelScope] = {}
        all_ports: dict[str, int] = dict(ports or {})
        for name in protocols:
            sim = new_sim(sim_config(name, **(sim_options or {}).get(name, {})))
            sims[name] = sim
            all_ports[name], scopes[name] = await nursery.start(_serve_sim, sim)
        config_path = write_config(tmp_path, all_ports, database=db_url, gateway=gateway_options, policy=policy,
                                   http=http, **(channel_options or {}))
        config = load(config_path)
        migrate.upgrade(config.gateway.database)
        key = new_key("test", admin=True)
        _insert_key(config.gateway.database, key)
        stopped = trio.Event()

        async def run_gateway(task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await run(config, task_status=task_status)
            finally:
                stopped.set()

        gateway: Gateway = await nursery.start(run_gateway)
        harness = Harness(gateway, sims, key.id, key.secret, f"http://127.0.0.1:{gateway.http_port}", config_path,
                          nursery, scopes, stopped)
        async with httpx.AsyncClient(timeout=10) as client:
            harness.client = client
            yield harness
        gateway.stop.set()
        with trio.fail_after(10):
            await stopped.wait()
        nursery.cancel_scope.cancel()


def _toml(value: Any) -> str:
    """A TOML value: JSON is TOML for scalars and lists; tables become inline tables."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)
