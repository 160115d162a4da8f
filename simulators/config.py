"""Simulator settings: every ``smsc-sim`` flag as one frozen value, parsed and checked once.

Faults are data here; ``behaviours.py`` turns them into decisions with a seeded RNG so a
test can reproduce a run exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A flag value is malformed; the message names the flag and what is expected."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    protocol: str  # "smpp" | "cmpp" | "smgp"
    host: str = "127.0.0.1"
    port: int = 0
    cmpp_version: int = 3
    accounts: dict[str, str] = field(default_factory=dict)  # id -> secret
    window: int = 16
    tps: float = 0.0  # per account; 0 = unlimited
    max_binds: int = 0  # per account; 0 = unlimited
    dlr_delay: float = 1.0
    dlr_outcomes: tuple[tuple[str, float], ...] = (("DELIVRD", 1.0),)
    mo_rate: float = 0.0
    disconnect_every: float = 0.0
    record: str | None = None
    id_format: str = "dec"  # SMPP message id format in submit_sm_resp
    dlr_id_format: str | None = None  # in the receipt; None = same as id_format
    dlr_before_resp: bool = False
    drop_resp_ratio: float = 0.0
    error_ratio: tuple[tuple[int, float], ...] = ()
    slow_resp_ms: float = 0.0
    reject_bind: bool = False
    zoo: tuple[str, ...] = ()
    keepalive: float = 30.0
    idle_timeout: float = 120.0
    seed: int | None = None
    gateway_code: int = 1001  # CMPP ISMG code in Msg_Id; SMGP SMGW code "010061"-style
    mo_source: str = "13800138000"
    mo_dest: str = "10690000"


ZOO = {
    "generic-nack-no-seq": "answer some submits with a generic_nack carrying sequence 0 (SMPP)",
    "bad-length": "send a PDU whose length field is wrong now and then",
    "deliver-before-bind": "send a deliver right after the TCP accept, before any bind",
    "unbind-mid-window": "unbind while submits are still outstanding",
}


def parse_accounts(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    accounts: dict[str, str] = {}
    for value in values:
        account, sep, secret = value.partition(":")
        if not sep or not account:
            raise ConfigError(f"--account {value!r}: expected ID:SECRET, e.g. --account 901234:secret")
        accounts[account] = secret
    return accounts


def parse_outcomes(value: str) -> tuple[tuple[str, float], ...]:
    """``DELIVRD=0.97,UNDELIV=0.02,EXPIRED=0.01`` -> normalised (stat, probability) pairs."""
    pairs: list[tuple[str, float]] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        stat, sep, prob = item.partition("=")
        try:
            p = float(prob)
        except ValueError:
            p = -1.0
        if not sep or not stat or p < 0:
            raise ConfigError(
                f"--dlr-outcomes {value!r}: expected STAT=P,... with P >= 0, e.g. DELIVRD=0.97,UNDELIV=0.03"
            )
        pairs.append((stat.strip(), p))
    total = sum(p for _, p in pairs)
    if not pairs or total <= 0:
        raise ConfigError(f"--dlr-outcomes {value!r}: the probabilities must add up to more than 0")
    return tuple((stat, p / total) for stat, p in pairs)


def parse_error_ratios(values: tuple[str, ...] | list[str]) -> tuple[tuple[int, float], ...]:
    """``--error-ratio 0x58=0.1`` (repeatable) -> ((88, 0.1),)."""
    out: list[tuple[int, float]] = []
    for value in values:
        code, sep, prob = value.partition("=")
        try:
            status, p = int(code, 0), float(prob)
        except ValueError:
            status, p = -1, -1.0
        if not sep or status < 0 or not 0 <= p <= 1:
            raise ConfigError(f"--error-ratio {value!r}: expected CODE=P with 0 <= P <= 1, e.g. 0x58=0.05")
        out.append((status, p))
    if sum(p for _, p in out) > 1:
        raise ConfigError("--error-ratio: the probabilities add up to more than 1")
    return tuple(out)
