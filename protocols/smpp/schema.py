"""Every SMPP 3.4 PDU of PROTOCOLS.md A.3 as a ``construct`` schema: the readable spec, the
codec of the PDUs that are not on the hot path, and the oracle the struct hot path is
tested against.

Field names equal the dataclass field names of ``pdus``; derived counts (sm_length,
number_of_dests, no_unsuccess) are rebuilt from the data they describe. C-strings enforce
their maximum (including the NUL) when building and accept any length when parsing; a
missing NUL is malformed. The bodies describe the full form; a header-only error response
(E.11) is handled by the codec before the schema is consulted.
"""

from __future__ import annotations

from typing import Any

from construct import (
    Adapter,
    Array,
    Construct,
    ConstructError,
    FixedSized,
    GreedyBytes,
    GreedyRange,
    If,
    Int8ub,
    Int16ub,
    Int32ub,
    Prefixed,
    Rebuild,
    Struct,
    Switch,
    Terminated,
    len_,
    this,
)
from construct.core import StreamError, stream_read, stream_tell, stream_write

from ..tlv import Tlv
from .constants import HEADER_SIZE, MAX_SHORT_MESSAGE, CommandId, Status


class Malformed(ConstructError):  # type: ignore[misc]
    """Parse failure that knows the command_status the peer should get and where."""

    def __init__(self, message: str, status: int, offset: int) -> None:
        super().__init__(message)
        self.status = status
        self.offset = offset


class CStr(Construct):  # type: ignore[misc]
    """C-Octet String of at most ``size`` octets including the NUL, as latin-1 ``str``.
    ``time=True`` is the C(1|17) form of A.10: empty or exactly 16 characters."""

    def __init__(self, size: int, *, time: bool = False) -> None:
        super().__init__()
        self.size = size
        self.time = time

    def _parse(self, stream: Any, context: Any, path: Any) -> str:
        start = stream_tell(stream, path)
        out = bytearray()
        while True:
            try:
                octet = stream_read(stream, 1, path)
            except StreamError:
                raise Malformed(
                    "C-string without NUL terminator", Status.ESME_RINVCMDLEN, start
                ) from None
            if octet == b"\0":
                return out.decode("latin-1")
            out += octet

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> str:
        data = obj.encode("latin-1")
        if b"\0" in data:
            raise ConstructError(f"C-string {obj!r} contains NUL", path=path)
        if self.time and len(data) not in (0, 16):
            raise ConstructError(f"time {obj!r} must be empty or 16 characters", path=path)
        if len(data) >= self.size:
            raise ConstructError(f"C-string {obj!r} longer than {self.size - 1}", path=path)
        stream_write(stream, data + b"\0", len(data) + 1, path)
        return obj


class Octets(Construct):  # type: ignore[misc]
    """short_message: ``length`` octets (sm_length, read just before). Too few octets left
    is ESME_RINVMSGLEN; more than 254 is refused when building (255 is not allowed)."""

    def __init__(self, length: Any) -> None:
        super().__init__()
        self.length = length

    def _parse(self, stream: Any, context: Any, path: Any) -> bytes:
        start = stream_tell(stream, path)
        try:
            return stream_read(stream, self.length(context), path)
        except StreamError:
            raise Malformed("sm_length exceeds the PDU", Status.ESME_RINVMSGLEN, start - 1) from None

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> bytes:
        if len(obj) > MAX_SHORT_MESSAGE:
            raise ConstructError(f"short_message of {len(obj)} octets (max 254)", path=path)
        stream_write(stream, obj, len(obj), path)
        return obj


class Require(Construct):  # type: ignore[misc]
    """Reject the PDU with ``status`` unless ``check(context)`` holds (a value range)."""

    def __init__(self, check: Any, status: int, message: str) -> None:
        super().__init__()
        self.check = check
        self.status = status
        self.message = message
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: Any) -> None:
        if not self.check(context):
            raise Malformed(self.message, self.status, stream_tell(stream, path) - 1)

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> None:
        if not self.check(context):
            raise ConstructError(self.message, path=path)


class _TlvList(Adapter):  # type: ignore[misc]
    def _decode(self, obj: Any, context: Any, path: Any) -> list[Tlv]:
        return [Tlv(t.tag, t.value) for t in obj]

    def _encode(self, obj: Any, context: Any, path: Any) -> list[dict[str, Any]]:
        return [{"tag": t.tag, "value": t.value} for t in obj]


#: A.4: tag u16, length u16 (of the value), value. A TLV that does not fit leaves bytes
#: before ``Terminated``: ESME_RINVOPTPARSTREAM at the offset of that TLV.
TLV = Struct("tag" / Int16ub, "value" / Prefixed(Int16ub, GreedyBytes))
TLVS = _TlvList(GreedyRange(TLV))

TIME = CStr(17, time=True)

EMPTY = Struct()

BIND = Struct(
    "system_id" / CStr(16),
    "password" / CStr(9),
    "system_type" / CStr(13),
    "interface_version" / Int8ub,
    "addr_ton" / Int8ub,
    "addr_npi" / Int8ub,
    "address_range" / CStr(41),
    "tlvs" / TLVS,
    Terminated,
)
BIND_RESP = Struct("system_id" / CStr(16), "tlvs" / TLVS, Terminated)
OUTBIND = Struct("system_id" / CStr(16), "password" / CStr(9), "tlvs" / TLVS, Terminated)

#: submit_sm fields 8-18 (A.3.4), shared with deliver_sm and submit_multi.
_MESSAGE = (
    "esm_class" / Int8ub,
    "protocol_id" / Int8ub,
    "priority_flag" / Int8ub,
    "schedule_delivery_time" / TIME,
    "validity_period" / TIME,
    "registered_delivery" / Int8ub,
    "replace_if_present_flag" / Int8ub,
    "data_coding" / Int8ub,
    "sm_default_msg_id" / Int8ub,
    "sm_length" / Rebuild(Int8ub, len_(this.short_message)),
    "short_message" / Octets(this.sm_length),
    "tlvs" / TLVS,
    Terminated,
)
SUBMIT_SM = DELIVER_SM = Struct(
    "service_type" / CStr(6),
    "source_addr_ton" / Int8ub,
    "source_addr_npi" / Int8ub,
    "source_addr" / CStr(21),
    "dest_addr_ton" / Int8ub,
    "dest_addr_npi" / Int8ub,
    "destination_addr" / CStr(21),
    *_MESSAGE,
)
MESSAGE_ID_RESP = Struct("message_id" / CStr(65), "tlvs" / TLVS, Terminated)

DATA_SM = Struct(
    "service_type" / CStr(6),
    "source_addr_ton" / Int8ub,
    "source_addr_npi" / Int8ub,
    "source_addr" / CStr(65),
    "dest_addr_ton" / Int8ub,
    "dest_addr_npi" / Int8ub,
    "destination_addr" / CStr(65),
    "esm_class" / Int8ub,
    "registered_delivery" / Int8ub,
    "data_coding" / Int8ub,
    "tlvs" / TLVS,
    Terminated,
)

DEST_ADDRESS = Struct(
    "dest_flag" / Int8ub,
    Require(lambda ctx: ctx.dest_flag in (1, 2), Status.ESME_RINVDESTFLAG, "dest_flag must be 1 or 2"),
    "dest_addr_ton" / If(this.dest_flag == 1, Int8ub),
    "dest_addr_npi" / If(this.dest_flag == 1, Int8ub),
    "destination_addr" / If(this.dest_flag == 1, CStr(21)),
    "dl_name" / If(this.dest_flag == 2, CStr(21)),
)
SUBMIT_MULTI = Struct(
    "service_type" / CStr(6),
    "source_addr_ton" / Int8ub,
    "source_addr_npi" / Int8ub,
    "source_addr" / CStr(21),
    "number_of_dests" / Rebuild(Int8ub, len_(this.dest_addresses)),
    Require(lambda ctx: ctx.number_of_dests <= 254, Status.ESME_RINVNUMDESTS, "more than 254 destinations"),
    "dest_addresses" / Array(this.number_of_dests, DEST_ADDRESS),
    *_MESSAGE,
)
UNSUCCESS_SME = Struct(
    "dest_addr_ton" / Int8ub,
    "dest_addr_npi" / Int8ub,
    "destination_addr" / CStr(21),
    "error_status_code" / Int32ub,
)
SUBMIT_MULTI_RESP = Struct(
    "message_id" / CStr(65),
    "no_unsuccess" / Rebuild(Int8ub, len_(this.unsuccess_smes)),
    "unsuccess_smes" / Array(this.no_unsuccess, UNSUCCESS_SME),
    "tlvs" / TLVS,
    Terminated,
)

QUERY_SM = Struct(
    "message_id" / CStr(65),
    "source_addr_ton" / Int8ub,
    "source_addr_npi" / Int8ub,
    "source_addr" / CStr(21),
    "tlvs" / TLVS,
    Terminated,
)
QUERY_SM_RESP = Struct(
    "message_id" / CStr(65),
    "final_date" / TIME,
    "message_state" / Int8ub,
    "error_code" / Int8ub,
    "tlvs" / TLVS,
    Terminated,
)
CANCEL_SM = Struct(
    "service_type" / CStr(6),
    "message_id" / CStr(65),
    "source_addr_ton" / Int8ub,
    "source_addr_npi" / Int8ub,
    "source_addr" / CStr(21),
    "dest_addr_ton" / Int8ub,
    "dest_addr_npi" / Int8ub,
    "destination_addr" / CStr(21),
    "tlvs" / TLVS,
    Terminated,
)
REPLACE_SM = Struct(
    "message_id" / CStr(65),
    "source_addr_ton" / Int8ub,
    "source_addr_npi" / Int8ub,
    "source_addr" / CStr(21),
    "schedule_delivery_time" / TIME,
    "validity_period" / TIME,
    "registered_delivery" / Int8ub,
    "sm_default_msg_id" / Int8ub,
    "sm_length" / Rebuild(Int8ub, len_(this.short_message)),
    "short_message" / Octets(this.sm_length),
    "tlvs" / TLVS,
    Terminated,
)
ALERT_NOTIFICATION = Struct(
    "source_addr_ton" / Int8ub,
    "source_addr_npi" / Int8ub,
    "source_addr" / CStr(65),
    "esme_addr_ton" / Int8ub,
    "esme_addr_npi" / Int8ub,
    "esme_addr" / CStr(65),
    "tlvs" / TLVS,
    Terminated,
)

C = CommandId
BODIES: dict[int, Construct] = {
    C.GENERIC_NACK: EMPTY,
    C.BIND_RECEIVER: BIND,
    C.BIND_TRANSMITTER: BIND,
    C.BIND_TRANSCEIVER: BIND,
    C.BIND_RECEIVER_RESP: BIND_RESP,
    C.BIND_TRANSMITTER_RESP: BIND_RESP,
    C.BIND_TRANSCEIVER_RESP: BIND_RESP,
    C.OUTBIND: OUTBIND,
    C.QUERY_SM: QUERY_SM,
    C.QUERY_SM_RESP: QUERY_SM_RESP,
    C.SUBMIT_SM: SUBMIT_SM,
    C.SUBMIT_SM_RESP: MESSAGE_ID_RESP,
    C.DELIVER_SM: DELIVER_SM,
    C.DELIVER_SM_RESP: MESSAGE_ID_RESP,
    C.UNBIND: EMPTY,
    C.UNBIND_RESP: EMPTY,
    C.REPLACE_SM: REPLACE_SM,
    C.REPLACE_SM_RESP: EMPTY,
    C.CANCEL_SM: CANCEL_SM,
    C.CANCEL_SM_RESP: EMPTY,
    C.ENQUIRE_LINK: EMPTY,
    C.ENQUIRE_LINK_RESP: EMPTY,
    C.SUBMIT_MULTI: SUBMIT_MULTI,
    C.SUBMIT_MULTI_RESP: SUBMIT_MULTI_RESP,
    C.ALERT_NOTIFICATION: ALERT_NOTIFICATION,
    C.DATA_SM: DATA_SM,
    C.DATA_SM_RESP: MESSAGE_ID_RESP,
}

#: A whole PDU, for reading and for tests (build needs command_length given). Any
#: response may stop after the header (E.11), hence the ``If``.
PDU = Struct(
    "command_length" / Int32ub,
    "command_id" / Int32ub,
    "command_status" / Int32ub,
    "sequence" / Int32ub,
    "body" / If(
        this.command_length > HEADER_SIZE,
        FixedSized(this.command_length - HEADER_SIZE, Switch(this.command_id, BODIES)),
    ),
)
