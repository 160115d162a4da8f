"""Every SMGP 3.0 PDU of PROTOCOLS.md D as a ``construct`` schema: the readable spec, the
codec of the PDUs that are not on the hot path, and the oracle the struct hot path is
tested against. Field names equal the dataclass field names of ``pdus``; count and
length fields (DestTermIDCount, MsgLength) are rebuilt from the data they describe."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

from construct import (
    Adapter,
    Array,
    Bytes,
    Construct,
    ConstructError,
    FixedSized,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    NullStripped,
    Rebuild,
    StringEncoded,
    Struct,
    Terminated,
    len_,
    this,
)

from ..errors import LocalProtocolError, RemoteProtocolError
from ..tlv import Tlv
from .constants import HEADER_SIZE, CommandId, Status
from .pdus import PDU_CLASSES, Pdu


def Fixed(size: int) -> Construct:
    """Octet String of ``size`` octets: left-aligned, right-padded with 0x00 (D)."""
    return StringEncoded(FixedSized(size, NullStripped(GreedyBytes)), "latin-1")


class _TlvList(Adapter):  # type: ignore[misc]
    def _decode(self, obj: Any, context: Any, path: Any) -> list[Tlv]:
        return [Tlv(t.tag, t.value) for t in obj]

    def _encode(self, obj: Any, context: Any, path: Any) -> list[dict[str, Any]]:
        return [{"tag": t.tag, "value": t.value} for t in obj]


TLV = Struct(
    "tag" / Int16ub,
    "length" / Rebuild(Int16ub, len_(this.value)),
    "value" / Bytes(this.length),
)
TLVS = _TlvList(GreedyRange(TLV))

HEADER = Struct(
    "packet_length" / Int32ub,
    "request_id" / Int32ub,
    "sequence" / Int32ub,
)

LOGIN = Struct(
    "client_id" / Fixed(8),
    "authenticator_client" / Bytes(16),
    "login_mode" / Int8ub,
    "timestamp" / Int32ub,
    "client_version" / Int8ub,
    Terminated,
)
LOGIN_RESP = Struct(
    "status" / Int32ub,
    "authenticator_server" / Bytes(16),
    "server_version" / Int8ub,
    Terminated,
)
SUBMIT = Struct(
    "msg_type" / Int8ub,
    "need_report" / Int8ub,
    "priority" / Int8ub,
    "service_id" / Fixed(10),
    "fee_type" / Fixed(2),
    "fee_code" / Fixed(6),
    "fixed_fee" / Fixed(6),
    "msg_format" / Int8ub,
    "valid_time" / Fixed(17),
    "at_time" / Fixed(17),
    "src_term_id" / Fixed(21),
    "charge_term_id" / Fixed(21),
    "dest_term_id_count" / Rebuild(Int8ub, len_(this.dest_term_ids)),
    "dest_term_ids" / Array(this.dest_term_id_count, Fixed(21)),
    "msg_length" / Rebuild(Int8ub, len_(this.msg_content)),
    "msg_content" / Bytes(this.msg_length),
    "reserve" / Fixed(8),
    "tlvs" / TLVS,
    Terminated,
)
MSG_ID_STATUS = Struct(
    "msg_id" / Bytes(10),
    "status" / Int32ub,
    Terminated,
)
SUBMIT_RESP = DELIVER_RESP = MSG_ID_STATUS
DELIVER = Struct(
    "msg_id" / Bytes(10),
    "is_report" / Int8ub,
    "msg_format" / Int8ub,
    "recv_time" / Fixed(14),
    "src_term_id" / Fixed(21),
    "dest_term_id" / Fixed(21),
    "msg_length" / Rebuild(Int8ub, len_(this.msg_content)),
    "msg_content" / Bytes(this.msg_length),
    "reserve" / Fixed(8),
    "tlvs" / TLVS,
    Terminated,
)
EMPTY = Struct(Terminated)
QUERY = Struct(
    "query_time" / Fixed(8),
    "query_type" / Int8ub,
    "query_code" / Fixed(10),
    Terminated,
)
QUERY_RESP = Struct(
    "query_time" / Fixed(8),
    "query_type" / Int8ub,
    "query_code" / Fixed(10),
    "mt_tlmsg" / Int32ub,
    "mt_tlusr" / Int32ub,
    "mt_scs" / Int32ub,
    "mt_wt" / Int32ub,
    "mt_fl" / Int32ub,
    "mo_scs" / Int32ub,
    "mo_wt" / Int32ub,
    "mo_fl" / Int32ub,
    "reserve" / Fixed(8),
    Terminated,
)

BODIES: dict[int, Construct] = {
    CommandId.LOGIN: LOGIN,
    CommandId.LOGIN_RESP: LOGIN_RESP,
    CommandId.SUBMIT: SUBMIT,
    CommandId.SUBMIT_RESP: SUBMIT_RESP,
    CommandId.DELIVER: DELIVER,
    CommandId.DELIVER_RESP: DELIVER_RESP,
    CommandId.ACTIVE_TEST: EMPTY,
    CommandId.ACTIVE_TEST_RESP: EMPTY,
    CommandId.EXIT: EMPTY,
    CommandId.EXIT_RESP: EMPTY,
    CommandId.QUERY: QUERY,
    CommandId.QUERY_RESP: QUERY_RESP,
}

_FIELDS: dict[int, tuple[str, ...]] = {
    cid: tuple(f.name for f in dataclasses.fields(cls) if f.name != "sequence")
    for cid, cls in PDU_CLASSES.items()
}
_HEAD = struct.Struct(">III")


def parse_body(command_id: int, sequence: int, body: bytes) -> Pdu:
    """Decode the body of a known command; any defect raises ``RemoteProtocolError``
    with Status 10 (message structure error)."""
    try:
        container = BODIES[command_id].parse(body)
    except (ConstructError, UnicodeError, ValueError) as exc:
        raise RemoteProtocolError(
            f"malformed {CommandId(command_id).name} body: {str(exc).splitlines()[-1]}",
            status=Status.MESSAGE_STRUCTURE_ERROR,
            command_id=command_id,
            sequence=sequence,
        ) from None
    names = _FIELDS[command_id]
    return PDU_CLASSES[command_id](sequence=sequence, **{n: container[n] for n in names})


def build(pdu: Pdu) -> bytes:
    """Encode a whole frame (header + body)."""
    cid = pdu.command_id
    try:
        body = BODIES[cid].build({n: getattr(pdu, n) for n in _FIELDS[cid]})
    except (ConstructError, UnicodeError, ValueError, TypeError) as exc:
        raise LocalProtocolError(
            f"cannot encode {type(pdu).__name__}: {str(exc).splitlines()[-1]}"
        ) from None
    return _HEAD.pack(HEADER_SIZE + len(body), cid, pdu.sequence) + body


def parse(frame: bytes) -> Pdu:
    """Decode a whole frame of a known command with the schema alone (the test oracle;
    ``codec.decode`` adds the header checks and the struct hot path)."""
    head = HEADER.parse(frame[:HEADER_SIZE])
    return parse_body(head.request_id, head.sequence, frame[HEADER_SIZE:])
