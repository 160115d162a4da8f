"""The two kinds of protocol failure, each saying who broke the rules.

::

    ProtocolError
    ├── RemoteProtocolError   the peer sent something invalid; carries what to answer
    └── LocalProtocolError    we asked for something invalid (wrong state, bad field)
        └── WindowFull        no free slot in the window of outstanding requests

Decoders raise nothing but ``RemoteProtocolError`` on any input (the fuzz tests hold them
to that), so the I/O layer needs exactly one ``except`` around a decode.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class of every error raised by ``protocols``."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    ``status`` is the protocol's status/result code the peer should get back (for SMPP
    the ``command_status`` of the generic_nack or error response). ``command_id`` and
    ``sequence`` are set when the header could be read, so the session can answer that
    very request. ``offset`` is where in the frame decoding failed. ``fatal`` means the
    byte stream cannot be resynchronised (a bad length prefix) and the session must close.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        offset: int | None = None,
        command_id: int | None = None,
        sequence: int | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.offset = offset
        self.command_id = command_id
        self.sequence = sequence
        self.fatal = fatal

    def __str__(self) -> str:
        where = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.message}{where}"


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol forbids: a PDU in the wrong state, a field
    longer than its maximum, a response to a request that never came."""


class WindowFull(LocalProtocolError):
    """Every slot of the window of outstanding requests is taken; wait for a response."""
