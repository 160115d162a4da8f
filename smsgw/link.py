"""What the daemon needs from each protocol in the client role, as one small interface.

A ``Link`` turns a message into submit PDUs, judges submit responses, and reads inbound
deliver PDUs as receipts or MO parts. It holds no I/O; ``channel.py`` drives it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from protocols.session import Session

from .config import ChannelConfig


class Outcome(enum.Enum):
    OK = "ok"
    THROTTLED = "throttled"  # pause the channel, resend
    TRANSIENT = "transient"  # resend a bounded number of times
    PERMANENT = "permanent"  # fail the message with the operator's code


@dataclass(slots=True, frozen=True)
class SubmitResult:
    outcome: Outcome
    code: str  # operator status, e.g. "0x00000058" or "8"
    description: str
    smsc_id: str | None = None


@dataclass(slots=True, frozen=True)
class Receipt:
    smsc_id: str
    stat: str
    err: str
    delivered: bool
    final: bool


@dataclass(slots=True, frozen=True)
class MoPart:
    source: str
    dest: str
    payload: bytes
    coding: int
    text: str  # decoded text of this part (whole text when not concatenated)
    concat: tuple[int, int, int] | None  # (reference, total, index)


@dataclass(slots=True)
class OutboundText:
    """A message ready to become PDUs on one channel."""

    to: str
    text: str
    reference: int  # concatenation reference (chosen by the dispatcher)
    want_report: bool = True


class Link(ABC):
    """Protocol glue for the client side of one channel."""

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel

    @abstractmethod
    def new_session(self, now: float) -> Session: ...

    @abstractmethod
    def bind(self, session: Session, now: float, wall_time: float) -> None:
        """Queue the bind/login request for this channel's credentials."""

    @abstractmethod
    def submits(self, message: OutboundText) -> list[Any]:
        """The submit PDUs of one message, one per segment, in order."""

    @abstractmethod
    def segment_count(self, text: str) -> int: ...

    @abstractmethod
    def submit_result(self, response: Any) -> SubmitResult: ...

    @abstractmethod
    def inbound(self, pdu: Any) -> Receipt | MoPart | None:
        """Read a deliver request; None if it is neither a receipt nor an MO."""

    @abstractmethod
    def inbound_response(self, pdu: Any, ok: bool) -> Any:
        """The response PDU acknowledging a deliver request."""

    @abstractmethod
    def is_inbound(self, pdu: Any) -> bool: ...

    @abstractmethod
    def resp_key(self, smsc_id: str) -> str:
        """The matching key of an operator id as the submit response writes it."""

    @abstractmethod
    def dlr_key(self, smsc_id: str) -> str:
        """The matching key of an operator id as a receipt writes it (PROTOCOLS.md E.3)."""
