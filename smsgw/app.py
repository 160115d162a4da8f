"""``smsgw serve``: the root of the daemon's task tree.

    serve
    ├── store (writer thread + reader threads)
    ├── dispatcher: per channel the bind slots and a feeder; expiry
    ├── callback sender: POSTs the `callbacks` outbox rows as they fall due
    ├── key watcher: drops cached API keys disabled or deleted in the database (every 5 s)
    ├── retention (when [gateway] retention_days > 0): deletes old final rows every few minutes
    ├── HTTP API (trace streams subscribe to the channels while their client is connected)
    └── signal watcher: SIGTERM/SIGINT -> close intake and trace streams, stop HTTP, drain windows
        and finish the callback POSTs in flight (both bounded), unbind, exit 0
"""

from __future__ import annotations

import signal
import ssl
import time
from typing import Any

import structlog
import trio

from .api import Api
from .callbacks import CallbackCollector, CallbackSender
from .config import Config
from .dispatch import Dispatcher
from .http.server import Limits, serve_http
from .intake import Intake
from .metrics import Metrics
from .queries import max_message_id
from .retention import Retention, RetentionCollector
from .store import migrate
from .store.engine import masked
from .store.exclusive import exclusive
from .store.ids import IdGenerator
from .store.store import Store, open_store
from .trace import TraceHub

log = structlog.get_logger("smsgw")


def channels_status(dispatcher: Dispatcher) -> list[dict[str, Any]]:
    """The data behind GET /v1/channels and ``smsgw channels``."""
    out = []
    for name, channel in dispatcher.channels.items():
        c = channel.config
        out.append({
            "name": name, "protocol": c.protocol, "host": c.host, "port": c.port, "binds": c.binds,
            "bound": channel.bound_sessions, "window": c.window, "in_flight": channel.in_flight,
            "tps": c.tps, "queue_depth": channel.depth, "paused": channel.paused_until > trio.current_time(),
            "sessions": [
                {"index": s.index, "state": s.state, "in_flight": len(s.session.window) if s.session else 0,
                 "bound_since": s.bound_since, "reconnects": s.reconnects, "last_error": s.last_error}
                for s in channel.slots
            ],
            "stats": {"submits": channel.stats.submits, "receipts": channel.stats.receipts,
                      "mo_parts": channel.stats.mo_parts, "timeouts": channel.stats.timeouts,
                      "resent": channel.stats.resent, "throttled": channel.stats.throttled,
                      "reconnects": channel.stats.reconnects, "violations": channel.stats.violations,
                      "unreadable": channel.stats.unreadable, "ignored": dict(channel.stats.ignored)},
        })
    return out


class Gateway:
    """Everything a running daemon holds; built inside ``run``."""

    def __init__(self, config: Config, store: Store, ids: IdGenerator) -> None:
        self.config = config
        self.store = store
        self.dispatcher = Dispatcher(config, store, ids)
        self.intake = Intake(self.dispatcher)
        self.metrics = Metrics(self.dispatcher)
        self.callbacks = CallbackSender(store, mo_secret=config.gateway.mo_callback_secret)
        self.trace = TraceHub(self.dispatcher.channels)
        self.retention = Retention(store, config.gateway.retention_days, wall_clock=self.dispatcher.wall_clock)
        self.metrics.registry.register(CallbackCollector(self.callbacks))  # type: ignore[arg-type]
        self.metrics.registry.register(RetentionCollector(self.retention))  # type: ignore[arg-type]
        self.metrics.registry.register(_TraceCollector(self.trace))  # type: ignore[arg-type]
        self.dispatcher.callback_observers.append(self.callbacks.wake)
        self.dispatcher.mo_observers.append(self.intake.limits.on_mo)  # unsubscribe replies

        async def status() -> list[dict[str, Any]]:
            return channels_status(self.dispatcher)

        self.api = Api(self.intake, self.metrics.text, status, callbacks=self.callbacks, trace=self.trace)
        self.http_port = 0
        self.stop = trio.Event()


class _TraceCollector:
    def __init__(self, hub: TraceHub) -> None:
        self.hub = hub

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        subscribers = GaugeMetricFamily("smsgw_trace_subscribers", "Connected `smsgw trace` streams")
        subscribers.add_metric([], len(self.hub.subscriptions))
        dropped = CounterMetricFamily("smsgw_trace_dropped", "Traced PDUs dropped for slow trace clients")
        dropped.add_metric([], self.hub.dropped + sum(s.dropped for s in self.hub.subscriptions))
        yield from (subscribers, dropped)


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    gw = config.gateway
    if gw.tls_cert is None or gw.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(gw.tls_cert, gw.tls_key)
    return context


async def run(config: Config, *, task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the daemon until SIGTERM/SIGINT or ``gateway.stop`` is set, then stop gracefully:
    close intake, stop HTTP, drain the windows within the bound, unbind."""
    url = config.gateway.database
    async with exclusive(url):
        await _serve(config, url, task_status)


async def _serve(config: Config, url: str, task_status: trio.TaskStatus[Gateway]) -> None:
    if config.gateway.auto_upgrade:
        await trio.to_thread.run_sync(migrate.upgrade, url)
    async with open_store(url, writer_process=config.gateway.store_writer == "process") as store:
        ids = IdGenerator(config.gateway.node_id, after=await store.read(max_message_id))
        gateway = Gateway(config, store, ids)
        await gateway.intake.load()
        stop_http = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_signals, gateway.stop)
            await nursery.start(gateway.api.batches.run)  # first: the feeders must know the held batches
            await nursery.start(gateway.dispatcher.run)
            await nursery.start(gateway.callbacks.run)
            nursery.start_soon(gateway.api.watch_keys)
            if config.gateway.retention_days:
                nursery.start_soon(gateway.retention.run)
            listeners = await nursery.start(
                lambda task_status: serve_http(
                    gateway.api.handle, config.gateway.http_host, config.gateway.http_port,
                    ssl_context=_ssl_context(config), limits=Limits(upload_timeout=config.http.upload_timeout),
                    stop=stop_http, task_status=task_status,
                )
            )
            host, gateway.http_port = listeners[0].socket.getsockname()[:2]
            log.info("smsgw serving", http=f"{host}:{gateway.http_port}", channels=len(config.channels),
                     database=masked(url))
            task_status.started(gateway)
            await gateway.stop.wait()
            started = time.monotonic()
            gateway.intake.open = False
            gateway.trace.close()
            stop_http.set()
            async with trio.open_nursery() as stopping:
                stopping.start_soon(gateway.dispatcher.stop)
                stopping.start_soon(gateway.callbacks.stop, min(5.0, config.gateway.drain_timeout))
            log.info("stopped", seconds=round(time.monotonic() - started, 2))
            nursery.cancel_scope.cancel()


async def _watch_signals(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("stopping", signal=signal.Signals(signum).name)
            stop.set()
            return
