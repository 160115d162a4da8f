"""Every CMPP PDU of PROTOCOLS.md C as a ``construct`` schema, per layout version.

This is the readable specification and the test oracle for the hand-written ``struct``
hot path in codec.py. Field names equal the dataclass field names of pdus.py; the count
fields (``dest_usr_tl``, ``msg_length``) are rebuilt from the data and dropped on the way
back to a dataclass.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from construct import (
    Array,
    Bytes,
    Construct,
    ExprAdapter,
    Int8ub,
    Int32ub,
    Int64ub,
    Rebuild,
    Struct,
    Terminated,
    len_,
    this,
)

from ..errors import LocalProtocolError
from .constants import HEADER_SIZE, CommandId, layout_version
from .pdus import PDU_CLASSES, Pdu


def encode_text(value: str, size: int, name: str) -> bytes:
    """A fixed OctetString: latin-1, at most ``size`` octets (the caller NUL-pads)."""
    try:
        data = value.encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{name} {value!r} is not latin-1 text") from None
    if len(data) > size:
        raise LocalProtocolError(f"{name} {value!r} is longer than {size} octets")
    return data


def decode_text(data: bytes) -> str:
    """Trailing NULs are padding (C: right-padded with 0x00); latin-1 never fails."""
    return data.rstrip(b"\0").decode("latin-1")


def Text(size: int, name: str) -> Construct:
    """Fixed(size) OctetString, right-padded with 0x00."""
    return ExprAdapter(
        Bytes(size),
        lambda obj, ctx: decode_text(obj),
        lambda obj, ctx: encode_text(obj, size, name).ljust(size, b"\0"),
    )


def Binary(size: int, name: str) -> Construct:
    """Exactly ``size`` raw octets (authenticators)."""

    def check(obj: bytes, ctx: Any) -> bytes:
        if len(obj) != size:
            raise LocalProtocolError(f"{name} must be exactly {size} octets, got {len(obj)}")
        return obj

    return ExprAdapter(Bytes(size), lambda obj, ctx: bytes(obj), check)


HEADER = Struct("total_length" / Int32ub, "command_id" / Int32ub, "sequence" / Int32ub)


def _only(present: bool, *subcons: Construct) -> list[Construct]:
    """Fields that exist in one layout version only."""
    return list(subcons) if present else []


def _schemas(version: int) -> dict[int, Construct]:
    v3 = version == 3
    status = Int32ub if v3 else Int8ub
    term = 32 if v3 else 21
    return {
        CommandId.CONNECT: Struct(
            "source_addr" / Text(6, "Source_Addr"),
            "authenticator_source" / Binary(16, "AuthenticatorSource"),
            "version" / Int8ub,
            "timestamp" / Int32ub,
            Terminated,
        ),
        CommandId.CONNECT_RESP: Struct(
            "status" / status,
            "authenticator_ismg" / Binary(16, "AuthenticatorISMG"),
            "version" / Int8ub,
            Terminated,
        ),
        CommandId.TERMINATE: Struct(Terminated),
        CommandId.TERMINATE_RESP: Struct(Terminated),
        CommandId.ACTIVE_TEST: Struct(Terminated),
        CommandId.ACTIVE_TEST_RESP: Struct("reserved" / Int8ub, Terminated),
        CommandId.SUBMIT: Struct(
            "msg_id" / Int64ub,
            "pk_total" / Int8ub,
            "pk_number" / Int8ub,
            "registered_delivery" / Int8ub,
            "msg_level" / Int8ub,
            "service_id" / Text(10, "Service_Id"),
            "fee_user_type" / Int8ub,
            "fee_terminal_id" / Text(term, "Fee_terminal_Id"),
            *_only(v3, "fee_terminal_type" / Int8ub),
            "tp_pid" / Int8ub,
            "tp_udhi" / Int8ub,
            "msg_fmt" / Int8ub,
            "msg_src" / Text(6, "Msg_src"),
            "fee_type" / Text(2, "FeeType"),
            "fee_code" / Text(6, "FeeCode"),
            "valid_time" / Text(17, "ValId_Time"),
            "at_time" / Text(17, "At_Time"),
            "src_id" / Text(21, "Src_Id"),
            "dest_usr_tl" / Rebuild(Int8ub, len_(this.dest_terminal_ids)),
            "dest_terminal_ids" / Array(this.dest_usr_tl, Text(term, "Dest_terminal_Id")),
            *_only(v3, "dest_terminal_type" / Int8ub),
            "msg_length" / Rebuild(Int8ub, len_(this.msg_content)),
            "msg_content" / Bytes(this.msg_length),
            *_only(v3, "link_id" / Text(20, "LinkID")),
            *_only(not v3, "reserve" / Text(8, "Reserve")),
            Terminated,
        ),
        CommandId.SUBMIT_RESP: Struct("msg_id" / Int64ub, "result" / status, Terminated),
        CommandId.DELIVER: Struct(
            "msg_id" / Int64ub,
            "dest_id" / Text(21, "Dest_Id"),
            "service_id" / Text(10, "Service_Id"),
            "tp_pid" / Int8ub,
            "tp_udhi" / Int8ub,
            "msg_fmt" / Int8ub,
            "src_terminal_id" / Text(term, "Src_terminal_Id"),
            *_only(v3, "src_terminal_type" / Int8ub),
            "registered_delivery" / Int8ub,
            "msg_length" / Rebuild(Int8ub, len_(this.msg_content)),
            "msg_content" / Bytes(this.msg_length),
            *_only(v3, "link_id" / Text(20, "LinkID")),
            *_only(not v3, "reserved" / Text(8, "Reserved")),
            Terminated,
        ),
        CommandId.DELIVER_RESP: Struct("msg_id" / Int64ub, "result" / status, Terminated),
        CommandId.QUERY: Struct(
            "time" / Text(8, "Time"),
            "query_type" / Int8ub,
            "query_code" / Text(10, "Query_Code"),
            "reserve" / Text(8, "Reserve"),
            Terminated,
        ),
        CommandId.QUERY_RESP: Struct(
            "time" / Text(8, "Time"),
            "query_type" / Int8ub,
            "query_code" / Text(10, "Query_Code"),
            "mt_tlmsg" / Int32ub,
            "mt_tlusr" / Int32ub,
            "mt_scs" / Int32ub,
            "mt_wt" / Int32ub,
            "mt_fl" / Int32ub,
            "mo_scs" / Int32ub,
            "mo_wt" / Int32ub,
            "mo_fl" / Int32ub,
            Terminated,
        ),
        CommandId.CANCEL: Struct("msg_id" / Int64ub, Terminated),
        CommandId.CANCEL_RESP: Struct("success_id" / status, Terminated),
    }


#: ``SCHEMAS[layout][command_id]`` is the body schema of that PDU in CMPP 2.0 / 3.0.
SCHEMAS: dict[int, dict[int, Construct]] = {2: _schemas(2), 3: _schemas(3)}

_FIELDS: dict[int, frozenset[str]] = {
    cid: frozenset(f.name for f in dataclasses.fields(cls)) for cid, cls in PDU_CLASSES.items()
}


def build(pdu: Pdu, version: int = 3) -> bytes:
    """The whole frame of ``pdu`` (header included) through the schema."""
    values = {name: getattr(pdu, name) for name in _FIELDS[pdu.command_id]}
    body = SCHEMAS[layout_version(version)][pdu.command_id].build(values)
    header = HEADER.build(
        {"total_length": HEADER_SIZE + len(body), "command_id": pdu.command_id,
         "sequence": pdu.sequence}
    )
    return bytes(header + body)


def parse(frame: bytes, version: int = 3) -> Pdu:
    """Parse a whole frame through the schema (raises construct errors on bad input; the
    codec validates lengths first so that it only ever raises ``RemoteProtocolError``)."""
    head = HEADER.parse(frame)
    container = SCHEMAS[layout_version(version)][head.command_id].parse(frame[HEADER_SIZE:])
    names = _FIELDS[head.command_id]
    values: dict[str, Any] = {
        k: list(v) if isinstance(v, list) else v
        for k, v in container.items() if k in names
    }
    return PDU_CLASSES[head.command_id](sequence=head.sequence, **values)
