"""What the generic simulator engine needs from each protocol (SMPP, CMPP, SMGP).

An adapter is stateless apart from its id generator: it knows how to build the server
session, judge a bind, read a submit, and build responses, receipts and MO messages in
its protocol's real formats.
"""

from __future__ import annotations

import codecs
import functools
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from protocols.session import Session
from protocols.text import Alphabet, decode

from .config import SimConfig


def stamp(wall: float, fmt: str) -> str:
    """``wall`` as local time in ``fmt``; every receipt needs two of these, so they are
    computed once per second and format rather than once per message."""
    return _stamp(int(wall), fmt)


@functools.lru_cache(maxsize=64)
def _stamp(second: int, fmt: str) -> str:
    return time.strftime(fmt, time.localtime(second))


_UTF_16_BE_DECODE = codecs.utf_16_be_decode


def decode_text(data: bytes, alphabet: Alphabet) -> str:
    """``protocols.text.decode``; UCS-2, the coding of nearly every submit in Chinese, by
    the codec function itself: 0.1 µs instead of 0.8 (``bytes.decode`` looks the codec up
    by name and goes through its Python wrapper), same result."""
    if alphabet is Alphabet.UCS2:
        return _UTF_16_BE_DECODE(data, "replace", True)[0]
    return decode(data, alphabet)


@dataclass(slots=True)
class SubmitInfo:
    """The parts of a submit the simulator acts on and records."""

    source: str
    dests: list[str]
    data: bytes
    coding: int
    text: str
    wants_report: bool
    segment: tuple[int, int, int] | None  # (reference, total, index)
    fields: dict[str, Any]


@dataclass(slots=True)
class Accepted:
    """A submit the simulator accepted: its message id (wire form and receipt form)."""

    wire_id: Any
    text_id: str
    submit_time: float


class Adapter(ABC):
    name: str
    #: status for "too many submits per second" and for "window exceeded"
    throttle_status: int
    window_status: int
    #: status refusing a bind for bad credentials / too many binds
    auth_status: int
    too_many_binds_status: int

    def __init__(self, config: SimConfig) -> None:
        self.config = config

    @abstractmethod
    def new_session(self, now: float) -> Session: ...

    @abstractmethod
    def bind_account(self, request: Any) -> str:
        """The account id a bind/login request names."""

    def accept_bind(self, session: Session, request: Any, secret: str) -> bool:
        """Authenticate and answer; False if the credentials were wrong (already refused).
        CMPP and SMGP sessions check the authenticator themselves; SMPP overrides this."""
        return bool(session.accept_bind(request, secret))  # type: ignore[attr-defined]

    def reject_bind(self, session: Session, request: Any, status: int) -> None:
        session.reject_bind(request, status)  # type: ignore[attr-defined]

    def session_options(self, now: float) -> dict[str, Any]:
        """The server-session settings every protocol takes from the flags."""
        return {"now": now, "window": max(self.config.window, 16), "keepalive_interval": self.config.keepalive,
                "inactivity_timeout": self.config.idle_timeout}

    @abstractmethod
    def encode(self, pdu: Any) -> bytes:
        """Wire bytes of a PDU outside any session (the misbehaving-SMSC zoo)."""

    @abstractmethod
    def is_submit(self, pdu: Any) -> bool: ...

    @abstractmethod
    def submit_info(self, pdu: Any) -> SubmitInfo: ...

    @abstractmethod
    def new_message_id(self, wall_time: float) -> Accepted: ...

    @abstractmethod
    def submit_response(self, request: Any, status: int, accepted: Accepted | None) -> Any: ...

    @abstractmethod
    def receipt(self, info: SubmitInfo, accepted: Accepted, stat: str, done_time: float) -> Any | None:
        """The deliver PDU carrying the status report of ``accepted`` (None: the submit
        did not ask for a report with this outcome)."""

    @abstractmethod
    def mo_messages(self, source: str, dest: str, text: str, reference: int) -> list[Any]:
        """Deliver PDUs of one MO message (several when it is long)."""

    def can_receive(self, session: Session) -> bool:
        """Whether deliver requests may be sent on this session now."""
        return session.is_bound and session._may_send(session.role, self.deliver_command_id)

    deliver_command_id: int
