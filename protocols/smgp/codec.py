"""SMGP 3.0 frames to PDUs and back.

Submit, Submit_Resp, Deliver and Deliver_Resp travel once per message, so they are
hand-written ``struct`` code; the other PDUs go through the ``construct`` schema
(``schema.py``), which the hot path is tested against byte for byte.

Decoding raises only ``RemoteProtocolError``: Status 10 (message structure error) for a
malformed PDU, Status 11 (command word error) for a RequestID we do not implement: that
includes the route and payment messages 0x05 and 0x08-0x12, which an SP-facing gateway
never needs. Encoding raises ``LocalProtocolError`` for a field that does not fit.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ..errors import LocalProtocolError, RemoteProtocolError
from ..tlv import decode_tlvs, encode_tlvs
from . import schema
from .constants import HEADER_SIZE, CommandId, Status
from .pdus import Deliver, DeliverResp, Pdu, Submit, SubmitResp

_STRUCTURE = Status.MESSAGE_STRUCTURE_ERROR
_HEAD = struct.Struct(">III")
#: header + Submit fields MsgType .. DestTermIDCount
_SUBMIT = struct.Struct(">III BBB10s2s6s6sB17s17s21s21sB")
_SUBMIT_FIXED = struct.Struct(">BBB10s2s6s6sB17s17s21s21sB")
#: header + Deliver fields MsgID .. MsgLength
_DELIVER = struct.Struct(">III 10sBB14s21s21sB")
_DELIVER_FIXED = struct.Struct(">10sBB14s21s21sB")
_MSG_ID_STATUS = struct.Struct(">III10sI")
_SUBMIT_MIN = HEADER_SIZE + 114
_DELIVER_MIN = HEADER_SIZE + 77
_RESP_SIZE = _MSG_ID_STATUS.size


def _fx(value: str, size: int, name: str) -> bytes:
    """A fixed Octet String field: latin-1, at most ``size`` octets (struct pads)."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{name} must be latin-1 text: {value!r}") from None
    if len(raw) > size:
        raise LocalProtocolError(f"{name} longer than {size} octets: {value!r}")
    return raw


def _msg_id(value: bytes) -> bytes:
    if len(value) != 10:
        raise LocalProtocolError(f"MsgID must be 10 octets, got {len(value)}")
    return value


def _content(value: bytes) -> bytes:
    if len(value) > 255:
        raise LocalProtocolError(f"MsgContent of {len(value)} octets exceeds 255")
    return value


def _malformed(message: str, offset: int, command_id: int, sequence: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        message, status=_STRUCTURE, offset=offset, command_id=command_id, sequence=sequence
    )


# ------------------------------------------------------------------------ hot encode


def _encode_submit(p: Submit) -> bytes:
    dests = [_fx(d, 21, "DestTermID").ljust(21, b"\0") for d in p.dest_term_ids]
    content = _content(p.msg_content)
    tlvs = encode_tlvs(p.tlvs) if p.tlvs else b""
    total = _SUBMIT_MIN + 21 * len(dests) + len(content) + len(tlvs)
    return b"".join((
        _SUBMIT.pack(
            total, CommandId.SUBMIT, p.sequence,
            p.msg_type, p.need_report, p.priority,
            _fx(p.service_id, 10, "ServiceID"),
            _fx(p.fee_type, 2, "FeeType"),
            _fx(p.fee_code, 6, "FeeCode"),
            _fx(p.fixed_fee, 6, "FixedFee"),
            p.msg_format,
            _fx(p.valid_time, 17, "ValidTime"),
            _fx(p.at_time, 17, "AtTime"),
            _fx(p.src_term_id, 21, "SrcTermID"),
            _fx(p.charge_term_id, 21, "ChargeTermID"),
            len(dests),
        ),
        *dests,
        bytes((len(content),)),
        content,
        _fx(p.reserve, 8, "Reserve").ljust(8, b"\0"),
        tlvs,
    ))


def _encode_deliver(p: Deliver) -> bytes:
    content = _content(p.msg_content)
    tlvs = encode_tlvs(p.tlvs) if p.tlvs else b""
    return b"".join((
        _DELIVER.pack(
            _DELIVER_MIN + len(content) + len(tlvs), CommandId.DELIVER, p.sequence,
            _msg_id(p.msg_id), p.is_report, p.msg_format,
            _fx(p.recv_time, 14, "RecvTime"),
            _fx(p.src_term_id, 21, "SrcTermID"),
            _fx(p.dest_term_id, 21, "DestTermID"),
            len(content),
        ),
        content,
        _fx(p.reserve, 8, "Reserve").ljust(8, b"\0"),
        tlvs,
    ))


def _encode_submit_resp(p: SubmitResp | DeliverResp) -> bytes:
    return _MSG_ID_STATUS.pack(_RESP_SIZE, p.command_id, p.sequence, _msg_id(p.msg_id), p.status)


# ------------------------------------------------------------------------ hot decode


def _decode_submit(frame: bytes, seq: int) -> Submit:
    cid = CommandId.SUBMIT
    end = len(frame)
    if end < _SUBMIT_MIN:
        raise _malformed(f"Submit of {end} octets is shorter than {_SUBMIT_MIN}", end, cid, seq)
    (msg_type, need_report, priority, service_id, fee_type, fee_code, fixed_fee, msg_format,
     valid_time, at_time, src, charge, count) = _SUBMIT_FIXED.unpack_from(frame, HEADER_SIZE)
    pos = HEADER_SIZE + _SUBMIT_FIXED.size
    dests_end = pos + 21 * count
    if dests_end + 9 > end:
        raise _malformed(f"DestTermIDCount {count} overruns the PDU", pos - 1, cid, seq)
    length = frame[dests_end]
    start = dests_end + 1
    stop = start + length
    if stop + 8 > end:
        raise _malformed(f"MsgLength {length} overruns the PDU", dests_end, cid, seq)
    # positional: keyword arguments would double the cost of building the dataclass
    return Submit(
        seq,
        msg_type,
        need_report,
        priority,
        service_id.rstrip(b"\0").decode("latin-1"),
        fee_type.rstrip(b"\0").decode("latin-1"),
        fee_code.rstrip(b"\0").decode("latin-1"),
        fixed_fee.rstrip(b"\0").decode("latin-1"),
        msg_format,
        valid_time.rstrip(b"\0").decode("latin-1"),
        at_time.rstrip(b"\0").decode("latin-1"),
        src.rstrip(b"\0").decode("latin-1"),  # src_term_id
        charge.rstrip(b"\0").decode("latin-1"),  # charge_term_id
        [frame[pos:dests_end].rstrip(b"\0").decode("latin-1")]  # dest_term_ids: mostly one
        if count == 1
        else [frame[i : i + 21].rstrip(b"\0").decode("latin-1") for i in range(pos, dests_end, 21)],
        frame[start:stop],  # msg_content
        frame[stop : stop + 8].rstrip(b"\0").decode("latin-1"),  # reserve
        decode_tlvs(frame, stop + 8, end, status=_STRUCTURE, command_id=cid, sequence=seq)
        if stop + 8 < end
        else [],
    )


def _decode_deliver(frame: bytes, seq: int) -> Deliver:
    cid = CommandId.DELIVER
    end = len(frame)
    if end < _DELIVER_MIN:
        raise _malformed(f"Deliver of {end} octets is shorter than {_DELIVER_MIN}", end, cid, seq)
    msg_id, is_report, msg_format, recv_time, src, dest, length = _DELIVER_FIXED.unpack_from(
        frame, HEADER_SIZE
    )
    start = HEADER_SIZE + _DELIVER_FIXED.size
    stop = start + length
    if stop + 8 > end:
        raise _malformed(f"MsgLength {length} overruns the PDU", start - 1, cid, seq)
    return Deliver(  # positional, as Submit above
        seq,
        msg_id,
        is_report,
        msg_format,
        recv_time.rstrip(b"\0").decode("latin-1"),
        src.rstrip(b"\0").decode("latin-1"),  # src_term_id
        dest.rstrip(b"\0").decode("latin-1"),  # dest_term_id
        frame[start:stop],  # msg_content
        frame[stop : stop + 8].rstrip(b"\0").decode("latin-1"),  # reserve
        decode_tlvs(frame, stop + 8, end, status=_STRUCTURE, command_id=cid, sequence=seq)
        if stop + 8 < end
        else [],
    )


def _decoder_msg_id_status(cls: type[SubmitResp] | type[DeliverResp]) -> Callable[[bytes, int], Any]:
    def decode(frame: bytes, seq: int) -> SubmitResp | DeliverResp:
        if len(frame) != _RESP_SIZE:
            raise _malformed(
                f"{cls.__name__} must be {_RESP_SIZE} octets, got {len(frame)}",
                min(len(frame), _RESP_SIZE), cls.command_id, seq,
            )
        _, _, _, msg_id, status = _MSG_ID_STATUS.unpack(frame)
        return cls(seq, msg_id, status)

    return decode


_HOT_DECODERS: dict[int, Callable[[bytes, int], Any]] = {
    CommandId.SUBMIT: _decode_submit,
    CommandId.DELIVER: _decode_deliver,
    CommandId.SUBMIT_RESP: _decoder_msg_id_status(SubmitResp),
    CommandId.DELIVER_RESP: _decoder_msg_id_status(DeliverResp),
}
_HOT_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    Submit: _encode_submit,
    Deliver: _encode_deliver,
    SubmitResp: _encode_submit_resp,
    DeliverResp: _encode_submit_resp,
}


# ---------------------------------------------------------------------------- public


def decode(frame: bytes) -> Pdu:
    """Decode one whole frame (PacketLength included)."""
    size = len(frame)
    if size < HEADER_SIZE:
        raise RemoteProtocolError(
            f"frame of {size} octets is shorter than the 12-octet header", status=_STRUCTURE, offset=0
        )
    length, cid, seq = _HEAD.unpack_from(frame)
    if length != size:
        raise _malformed(f"PacketLength {length} but the frame has {size} octets", 0, cid, seq)
    hot = _HOT_DECODERS.get(cid)
    if hot is not None:
        result: Pdu = hot(frame, seq)
        return result
    if cid in schema.BODIES:
        return schema.parse_body(cid, seq, frame[HEADER_SIZE:])
    try:
        name = f"unsupported RequestID {CommandId(cid).name} (0x{cid:08X})"
    except ValueError:
        name = f"unknown RequestID 0x{cid:08X}"
    raise RemoteProtocolError(
        name, status=Status.COMMAND_WORD_ERROR, offset=4, command_id=cid, sequence=seq
    )


def encode(pdu: Pdu) -> bytes:
    """Encode one PDU into a whole frame."""
    hot = _HOT_ENCODERS.get(type(pdu))
    try:
        return hot(pdu) if hot is not None else schema.build(pdu)
    except (struct.error, TypeError, AttributeError) as exc:
        raise LocalProtocolError(f"cannot encode {type(pdu).__name__}: {exc}") from None
