"""channels.toml: loaded and validated once, at start (CONTRACT §2).

Every error names the file, the key (``channel[2].window``) and what was expected, and
``smsgw serve`` exits 2 on it. Secrets written as ``"env:NAME"`` are read from the
environment here, so nothing downstream ever sees the indirection.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PROTOCOLS = ("smpp", "cmpp2", "cmpp3", "smgp")
ID_BASES = ("auto", "dec", "hex", "str")


class ConfigError(Exception):
    """channels.toml is unusable; the message says where and what is expected."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    name: str
    protocol: str
    host: str
    port: int
    username: str
    password: str
    binds: int = 1
    window: int = 16
    tps: float = 100.0
    prefixes: tuple[str, ...] = ()  # resolved from `routes` and `prefixes`
    routes: tuple[str, ...] = ()
    source: str = ""
    service_id: str = ""
    bind_mode: str = "transceiver"  # SMPP: transmitter | receiver | transceiver
    system_type: str = ""
    keepalive: float = 30.0
    response_timeout: float = 30.0
    connect_timeout: float = 10.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    max_retries: int = 3
    resp_id_base: str = "auto"  # how the submit response writes message ids
    dlr_id_base: str = "auto"  # how receipts write them
    gsm7: bool = True  # SMPP: data_coding 0 means GSM 03.38 at this SMSC
    signature_placement: str = "prefix"  # prefix | suffix | none


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    http: str = "127.0.0.1:8080"
    database: str = "sqlite:///var/smsgw.db"
    tls_cert: str | None = None
    tls_key: str | None = None
    auto_upgrade: bool = False
    validity: float = 172800.0
    mo_callback_url: str | None = None
    mo_callback_secret: str | None = None  # signs MO callbacks (they belong to no API key)
    drain_timeout: float = 10.0
    node_id: int = 0
    retention_days: float = 0.0  # delete final rows older than this (smsgw.retention); 0 = keep everything
    store_writer: str = "process"  # where the store's transactions run: "process" (a child), or "thread"

    @property
    def http_host(self) -> str:
        return self.http.rpartition(":")[0] or "127.0.0.1"

    @property
    def http_port(self) -> int:
        return int(self.http.rpartition(":")[2])


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``[http]``: bounds of the HTTP server beyond its fixed ones (docs/http.md)."""

    upload_timeout: float = 900.0  # seconds a request body may take from its head to its end


TEMPLATE_KINDS = ("verification", "notification", "marketing")


@dataclass(frozen=True, slots=True)
class FrequencyLimit:
    """Most messages one number may receive from one signature in each window."""

    per_minute: int = 1
    per_hour: int = 5
    per_day: int = 10


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """``[policy]``: the content and number rules of the notification platform (issue 5)."""

    # Every message must carry an approved signature and be (or match) an approved template.
    # Off only for a deployment whose content is reviewed elsewhere.
    content_review: bool = True
    # Per (number, signature) limits of ``limits``; off only where something upstream limits already
    # (and for load tests).
    frequency_limits: bool = True
    # An MO whose whole text is one of these (case-insensitive) blacklists its sender.
    unsubscribe_keywords: tuple[str, ...] = ("TD", "T", "退订")
    whitelist_capacity: int = 50
    # Template variable values: at most this many characters; never a line break.
    max_param_length: int = 20
    # Whether a verification template's values may contain a URL.
    verification_urls: bool = False
    # Messages per second one API key may submit; 0 = no quota.
    key_tps: float = 0.0
    limits: dict[str, FrequencyLimit] = field(
        default_factory=lambda: dict.fromkeys(TEMPLATE_KINDS, FrequencyLimit()))


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    gateway: GatewayConfig
    channels: tuple[ChannelConfig, ...]
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    http: HttpConfig = field(default_factory=HttpConfig)

    def channel(self, name: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.name == name), None)


class _Reader:
    """Typed access to one TOML table with errors that name file and key."""

    def __init__(self, path: Path, where: str, table: dict[str, Any], known: set[str]) -> None:
        self.path, self.where, self.table = path, where, table
        unknown = sorted(set(table) - known)
        if unknown:
            raise self.error(unknown[0], f"unknown key; expected one of {', '.join(sorted(known))}")

    def error(self, key: str, expected: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.where}{key}: {expected}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, what: str = "") -> Any:
        if key not in self.table:
            if default is ...:
                raise self.error(key, f"missing; expected {what or _name(kind)}")
            return default
        value = self.table[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(key, f"expected {what or _name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {what or _name(kind)}, got {value!r}")
        return value

    def secret(self, key: str) -> str:
        value = self.get(key, str, what="a string or \"env:NAME\"")
        if value.startswith("env:"):
            name = value[4:]
            if name not in os.environ:
                raise self.error(key, f"environment variable {name} is not set")
            return os.environ[name]
        return str(value)

    def positive(self, key: str, default: Any, kind: type = int) -> Any:
        value = self.get(key, (int, float) if kind is float else int, default,
                         what=f"a positive {'number' if kind is float else 'integer'}")
        if not (math.isfinite(value) and value > 0):  # TOML has nan and inf, which compare false
            raise self.error(key, f"expected a positive {'number' if kind is float else 'integer'}, got {value}")
        return kind(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)


def _d(cls: type, name: str) -> Any:
    """The declared default of a config field (slots hide it from the class)."""
    return next(f.default for f in fields(cls) if f.name == name)


def _name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_GATEWAY_KEYS = {f.name for f in fields(GatewayConfig)}
_CHANNEL_KEYS = {f.name for f in fields(ChannelConfig)}
_POLICY_KEYS = {f.name for f in fields(PolicyConfig)}
_HTTP_KEYS = {f.name for f in fields(HttpConfig)}
_LIMIT_KEYS = {f.name for f in fields(FrequencyLimit)}


def load(path: str | Path) -> Config:
    """Read and validate channels.toml; raise ConfigError with file, key and expectation."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (give --config PATH)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    top = _Reader(path, "", data, {"gateway", "routes", "channel", "policy", "http"})
    gateway = _gateway(path, top.get("gateway", dict, {}))
    policy = _policy(path, top.get("policy", dict, {}))
    http = _Reader(path, "http.", top.get("http", dict, {}), _HTTP_KEYS)
    http_config = HttpConfig(upload_timeout=http.positive("upload_timeout", _d(HttpConfig, "upload_timeout"), float))
    routes = _routes(path, top.get("routes", dict, {}))
    raw_channels = top.get("channel", list, [], what="an array of [[channel]] tables")
    if not raw_channels:
        raise top.error("channel", "at least one [[channel]] table is required")
    channels = []
    for i, raw in enumerate(raw_channels):
        if not isinstance(raw, dict):
            raise top.error(f"channel[{i}]", "expected a [[channel]] table")
        channels.append(_channel(path, i, raw, routes))
    names = [c.name for c in channels]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: channel[{names.index(name, names.index(name) + 1)}].name: "
                              f"duplicate channel name {name!r}; names must be unique")
    return Config(path=path, gateway=gateway, channels=tuple(channels), routes=routes, policy=policy,
                  http=http_config)


def _policy(path: Path, table: dict[str, Any]) -> PolicyConfig:
    r = _Reader(path, "policy.", table, _POLICY_KEYS)
    keywords = r.get("unsubscribe_keywords", list, list(_d(PolicyConfig, "unsubscribe_keywords")),
                     what="a list of strings")
    if not all(isinstance(k, str) and k.strip() for k in keywords):
        raise r.error("unsubscribe_keywords", f"expected a list of non-empty strings, got {keywords!r}")
    key_tps = r.get("key_tps", (int, float), 0.0, what="a number (0 = no quota)")
    if not (math.isfinite(key_tps) and key_tps >= 0):
        raise r.error("key_tps", f"expected 0 (no quota) or a positive number, got {key_tps}")
    raw_limits = r.get("limits", dict, {})
    limits = dict.fromkeys(TEMPLATE_KINDS, FrequencyLimit())
    for kind, raw in raw_limits.items():
        if kind not in TEMPLATE_KINDS:
            raise r.error(f"limits.{kind}", f"unknown template kind; expected one of {', '.join(TEMPLATE_KINDS)}")
        if not isinstance(raw, dict):
            raise r.error(f"limits.{kind}", "expected a table with per_minute, per_hour, per_day")
        lr = _Reader(path, f"policy.limits.{kind}.", raw, _LIMIT_KEYS)
        limits[kind] = FrequencyLimit(*(lr.positive(f.name, f.default) for f in fields(FrequencyLimit)))
    return PolicyConfig(
        content_review=r.get("content_review", bool, True),
        frequency_limits=r.get("frequency_limits", bool, True),
        unsubscribe_keywords=tuple(k.strip() for k in keywords),
        whitelist_capacity=r.positive("whitelist_capacity", _d(PolicyConfig, "whitelist_capacity")),
        max_param_length=r.positive("max_param_length", _d(PolicyConfig, "max_param_length")),
        verification_urls=r.get("verification_urls", bool, False),
        key_tps=float(key_tps),
        limits=limits,
    )


def _gateway(path: Path, table: dict[str, Any]) -> GatewayConfig:
    r = _Reader(path, "gateway.", table, _GATEWAY_KEYS)
    http = r.get("http", str, _d(GatewayConfig, "http"))
    host, sep, port = http.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise r.error("http", f"expected HOST:PORT such as 127.0.0.1:8080, got {http!r}")
    cert, key = r.get("tls_cert", str, None), r.get("tls_key", str, None)
    if (cert is None) != (key is None):
        raise r.error("tls_key" if key is None else "tls_cert", "tls_cert and tls_key go together")
    retention = r.get("retention_days", (int, float), 0, what="a number of days (0 = keep everything)")
    if retention != 0 and not (math.isfinite(retention) and retention >= 1):
        # under a day would delete the rows the frequency limits replay at start (the last day's)
        raise r.error("retention_days", f"expected 0 (keep everything) or at least 1 day, got {retention}")
    return GatewayConfig(
        http=http,
        database=_database_url(r.get("database", str, _d(GatewayConfig, "database")), path),
        tls_cert=cert,
        tls_key=key,
        auto_upgrade=r.get("auto_upgrade", bool, False),
        validity=r.positive("validity", _d(GatewayConfig, "validity"), float),
        mo_callback_url=r.get("mo_callback_url", str, None),
        mo_callback_secret=r.secret("mo_callback_secret") if "mo_callback_secret" in table else None,
        drain_timeout=r.positive("drain_timeout", _d(GatewayConfig, "drain_timeout"), float),
        node_id=r.get("node_id", int, 0),
        retention_days=float(retention),
        store_writer=r.choice("store_writer", ("process", "thread"), _d(GatewayConfig, "store_writer")),
    )


def _database_url(url: str, config_path: Path) -> str:
    """A relative SQLite path is relative to the config file, not to the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((config_path.parent / url[len(prefix):]).resolve())
    return url


def _routes(path: Path, table: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    routes = {}
    for name, prefixes in table.items():
        if not isinstance(prefixes, list) or not all(isinstance(p, str) and p for p in prefixes):
            raise ConfigError(f"{path}: routes.{name}: expected a list of number prefixes such as [\"139\"]")
        routes[name] = tuple(prefixes)
    return routes


def _channel(path: Path, i: int, table: dict[str, Any], routes: dict[str, tuple[str, ...]]) -> ChannelConfig:
    r = _Reader(path, f"channel[{i}].", table, _CHANNEL_KEYS)
    name = r.get("name", str)
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise r.error("name", f"expected letters, digits, '-', '_' or '.', got {name!r}")
    r.where = f"channel[{i}] ({name})."
    route_names = tuple(r.get("routes", list, [], what="a list of route names"))
    for route in route_names:
        if route not in routes:
            raise r.error("routes", f"unknown route {route!r}; [routes] defines {', '.join(routes) or 'none'}")
    prefixes = list(r.get("prefixes", list, [], what="a list of number prefixes"))
    if not all(isinstance(p, str) and p for p in prefixes):
        raise r.error("prefixes", "expected a list of number prefixes such as [\"139\"]")
    for route in route_names:
        prefixes.extend(routes[route])
    port = r.get("port", int)
    if not 1 <= port <= 65535:
        raise r.error("port", f"expected a TCP port 1..65535, got {port}")
    reconnect_min = r.positive("reconnect_min", _d(ChannelConfig, "reconnect_min"), float)
    reconnect_max = r.positive("reconnect_max", _d(ChannelConfig, "reconnect_max"), float)
    if reconnect_max < reconnect_min:
        raise r.error("reconnect_max", f"expected at least reconnect_min ({reconnect_min})")
    return ChannelConfig(
        name=name,
        protocol=r.choice("protocol", PROTOCOLS, "") if "protocol" in table else _missing(r, "protocol"),
        host=r.get("host", str),
        port=port,
        username=r.get("username", str, what="the account: SMPP system_id, CMPP SP_Id, SMGP ClientID"),
        password=r.secret("password"),
        binds=r.positive("binds", 1),
        window=r.positive("window", 16),
        tps=r.positive("tps", 100.0, float),
        prefixes=tuple(prefixes),
        routes=route_names,
        source=r.get("source", str, ""),
        service_id=r.get("service_id", str, ""),
        bind_mode=r.choice("bind_mode", ("transceiver", "transmitter", "receiver"), "transceiver"),
        system_type=r.get("system_type", str, ""),
        keepalive=r.positive("keepalive", _d(ChannelConfig, "keepalive"), float),
        response_timeout=r.positive("response_timeout", _d(ChannelConfig, "response_timeout"), float),
        connect_timeout=r.positive("connect_timeout", _d(ChannelConfig, "connect_timeout"), float),
        reconnect_min=reconnect_min,
        reconnect_max=reconnect_max,
        max_retries=r.get("max_retries", int, _d(ChannelConfig, "max_retries")),
        resp_id_base=r.choice("resp_id_base", ID_BASES, "auto"),
        dlr_id_base=r.choice("dlr_id_base", ID_BASES, "auto"),
        gsm7=r.get("gsm7", bool, True),
        signature_placement=r.choice("signature_placement", ("prefix", "suffix", "none"), "prefix"),
    )


def _missing(r: _Reader, key: str) -> str:
    raise r.error(key, f"missing; expected one of {', '.join(PROTOCOLS)}")
