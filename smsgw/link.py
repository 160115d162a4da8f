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
from protocols.text import Alphabet, Segment, analyse, split

from .config import ChannelConfig

#: distinct texts whose analysis a link keeps; a batch shares one text, codes differ by message
_TEXT_CACHE_SIZE = 256

# The values below are made once or twice per message and treated as immutable, but are not
# ``frozen``: a frozen dataclass's __init__ sets each field through object.__setattr__, 4 times
# slower (0.47 against 0.12 µs for five fields, measured).


class Outcome(enum.Enum):
    OK = "ok"
    THROTTLED = "throttled"  # pause the channel, resend
    TRANSIENT = "transient"  # resend a bounded number of times
    PERMANENT = "permanent"  # fail the message with the operator's code


@dataclass(slots=True)
class SubmitResult:
    outcome: Outcome
    code: str  # operator status, e.g. "0x00000058" or "8"
    description: str
    smsc_id: str | None = None


@dataclass(slots=True)
class Receipt:
    smsc_id: str
    stat: str
    err: str
    delivered: bool
    final: bool


@dataclass(slots=True)
class MoPart:
    source: str
    dest: str
    payload: bytes
    coding: int
    text: str  # decoded text of this part (whole text when not concatenated)
    concat: tuple[int, int, int] | None  # (reference, total, index)


@dataclass(slots=True)
class Ignored:
    """A deliver that is neither a receipt to match nor an MO text (an SMPP SME acknowledgement,
    an intermediate notification, ...): acknowledged, since the operator would only send it
    again, and counted by ``kind``; nothing is stored."""

    kind: str


@dataclass(slots=True)
class OutboundText:
    """A message ready to become PDUs on one channel."""

    to: str
    text: str
    reference: int  # concatenation reference (chosen by the dispatcher)
    want_report: bool = True


class Link(ABC):
    """Protocol glue for the client side of one channel."""

    candidates: list[Alphabet]  # in order of preference, for protocols.text.analyse

    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel
        # text -> (alphabet, parts; for a multi-part text only their count: the parts carry
        # the message's own concatenation reference)
        self._texts: dict[str, tuple[Alphabet, list[Segment] | int]] = {}

    @abstractmethod
    def new_session(self, now: float) -> Session: ...

    @abstractmethod
    def bind(self, session: Session, now: float, wall_time: float) -> None:
        """Queue the bind/login request for this channel's credentials."""

    @abstractmethod
    def submits(self, message: OutboundText) -> list[Any]:
        """The submit PDUs of one message, one per segment, in order."""

    def segment_count(self, text: str) -> int:
        """How many parts ``submits`` makes of ``text``; raises TextEncodingError."""
        parts = self._analysed(text)[1]
        return parts if isinstance(parts, int) else len(parts)

    def _parts(self, text: str, reference: int) -> tuple[Alphabet, list[Segment]]:
        """The alphabet chosen for ``text`` and its parts (8-bit concatenation reference)."""
        alphabet, parts = self._analysed(text)
        if parts == 1:  # a single part needs no reference: split once, kept for the next sends
            parts = split(text, alphabet, reference=0)
            if text in self._texts:
                self._texts[text] = (alphabet, parts)
        elif isinstance(parts, int):
            return alphabet, split(text, alphabet, reference=reference & 0xFF)
        return alphabet, parts

    def _analysed(self, text: str) -> tuple[Alphabet, list[Segment] | int]:
        """Choosing the alphabet encodes the text once per candidate, and both intake and
        the feeder need it: done once per distinct text. The parts are made when first sent,
        not at intake (a batch's personalised texts are all distinct, and out of this cache
        by the time they are sent)."""
        found = self._texts.get(text)
        if found is None:
            found = analyse(text, self.candidates)
            if len(self._texts) >= _TEXT_CACHE_SIZE:
                self._texts.clear()
            self._texts[text] = found
        return found

    @abstractmethod
    def submit_result(self, response: Any) -> SubmitResult: ...

    @abstractmethod
    def inbound(self, pdu: Any) -> Receipt | MoPart | Ignored | None:
        """Read a deliver request; None for a receipt that cannot be read (no id)."""

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
