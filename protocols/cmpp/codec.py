"""CMPP 2.0 / 3.0 frames <-> PDU dataclasses.

``decode(frame, version=3)`` and ``encode(pdu, version=3)``: the layout (C, E.1) comes from
the configured version, never from the peer. SUBMIT, SUBMIT_RESP, DELIVER and DELIVER_RESP
(sent and received once per message) are hand-written ``struct`` code; every other PDU has
a fixed body size and goes through the construct schema once its length is checked.

Errors: decoding raises only ``RemoteProtocolError``, whose ``status`` is what the matching
_RESP should carry: 1 (message structure error) when a fixed-size body has the wrong size,
4 (message length error) when Total_Length disagrees with DestUsr_tl / Msg_Length, 2
(command word error) for an unknown Command_Id. When a frame that does not fit the
configured layout does fit the other one, the message says so ("it decodes as CMPP 2.0"),
the usual symptom of a channel configured with the wrong version. A broken CONNECT_RESP is
``fatal``: the login cannot go on. Encoding raises ``LocalProtocolError`` for values that
do not fit (text too long or not latin-1, integers out of range).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import NoReturn

from construct import ConstructError

from ..errors import LocalProtocolError, RemoteProtocolError
from . import schema
from .constants import HEADER_SIZE, CommandId, Result, command_name, layout_version
from .pdus import PDU_CLASSES, Deliver, DeliverResp, Pdu, Submit, SubmitResp

_HEAD = struct.Struct(">III")
# header + every fixed field of SUBMIT up to and including DestUsr_tl
_SUBMIT = {
    3: struct.Struct(">IIIQBBBB10sB32sBBBB6s2s6s17s17s21sB"),
    2: struct.Struct(">IIIQBBBB10sB21sBBB6s2s6s17s17s21sB"),
}
# header + every fixed field of DELIVER up to and including Msg_Length
_DELIVER = {3: struct.Struct(">IIIQ21s10sBBB32sBBB"), 2: struct.Struct(">IIIQ21s10sBBB21sBB")}
_RESP = {3: struct.Struct(">IIIQI"), 2: struct.Struct(">IIIQB")}
_TERMINAL = {3: 32, 2: 21}
_TAIL = {3: 20, 2: 8}  # LinkID / Reserve(d)
#: body size without destinations and content: 151 / 126 (C.6), 97 / 73 (C.8)
_SUBMIT_FIXED = {3: 151, 2: 126}
_DELIVER_FIXED = {3: 97, 2: 73}
#: body size of every other PDU, all fixed (measured on a default PDU through the schema)
_FIXED_BODY = {
    layout: {
        cid: len(schema.build(cls(), layout)) - HEADER_SIZE
        for cid, cls in PDU_CLASSES.items() if cls not in (Submit, Deliver)
    }
    for layout in (2, 3)
}
_SUBMIT_ID = int(CommandId.SUBMIT)
_SUBMIT_RESP_ID = int(CommandId.SUBMIT_RESP)
_DELIVER_ID = int(CommandId.DELIVER)
_NAMED = frozenset(CommandId)

Decoder = Callable[[bytes, int, int, int, bool], Pdu]


def decode(frame: bytes, version: int = 3) -> Pdu:
    """Decode one whole frame (header included) using the layout of ``version``."""
    return _decode(bytes(frame), layout_version(version), True)


def encode(pdu: Pdu, version: int = 3) -> bytes:
    """The whole frame of ``pdu`` in the layout of ``version``."""
    layout = layout_version(version)
    if isinstance(pdu, Submit):
        return _encode_submit(pdu, layout)
    if isinstance(pdu, Deliver):
        return _encode_deliver(pdu, layout)
    if isinstance(pdu, SubmitResp | DeliverResp):
        fmt = _RESP[layout]
        try:
            return fmt.pack(fmt.size, pdu.command_id, pdu.sequence, pdu.msg_id, pdu.result)
        except struct.error:
            _explain(pdu, layout)
    return _build(pdu, layout)


# ------------------------------------------------------------------------------ decoding


def _decode(frame: bytes, layout: int, hint: bool) -> Pdu:
    size = len(frame)
    if size < HEADER_SIZE:
        raise RemoteProtocolError(
            f"frame of {size} octets is shorter than the 12-octet header",
            status=Result.LENGTH_ERROR, offset=0,
        )
    total, command_id, sequence = _HEAD.unpack_from(frame)
    if total != size:
        raise RemoteProtocolError(
            f"Total_Length says {total} octets but the frame has {size}",
            status=Result.LENGTH_ERROR, offset=0, command_id=command_id, sequence=sequence,
        )
    decoder = _DECODERS.get(command_id)
    if decoder is None:
        if command_id in _NAMED:
            what = f"{command_name(command_id)} (ISMG/GNS message) is not supported on an SP link"
        else:
            what = f"unknown Command_Id 0x{command_id:08X}"
        raise RemoteProtocolError(
            what, status=Result.COMMAND_ERROR, offset=4, command_id=command_id, sequence=sequence
        )
    return decoder(frame, command_id, sequence, layout, hint)


def _error(
    frame: bytes, command_id: int, sequence: int, layout: int, hint: bool, message: str,
    status: int, offset: int,
) -> RemoteProtocolError:
    """A decoding error; says so when the frame fits the other layout version (E.1)."""
    other = 5 - layout
    if hint:
        try:
            _decode(frame, other, False)
        except RemoteProtocolError:
            pass
        else:
            message += f"; it decodes as CMPP {other}.0 - is the channel configured for CMPP {layout}.0?"
    return RemoteProtocolError(
        f"{command_name(command_id)}: {message}", status=status, offset=offset,
        command_id=command_id, sequence=sequence,
        fatal=command_id == CommandId.CONNECT_RESP,
    )


def _decode_fixed(frame: bytes, command_id: int, sequence: int, layout: int, hint: bool) -> Pdu:
    expected = _FIXED_BODY[layout][command_id]
    if len(frame) - HEADER_SIZE != expected:
        raise _error(
            frame, command_id, sequence, layout, hint,
            f"Total_Length {len(frame)} does not fit CMPP {layout}.0 (expected {HEADER_SIZE + expected})",
            Result.STRUCTURE_ERROR,  # also ConnectStatus.STRUCTURE_ERROR (1)
            0,
        )
    return schema.parse(frame, layout)


def _decode_resp(frame: bytes, command_id: int, sequence: int, layout: int, hint: bool) -> Pdu:
    fmt = _RESP[layout]
    if len(frame) != fmt.size:
        raise _error(
            frame, command_id, sequence, layout, hint,
            f"Total_Length {len(frame)} does not fit CMPP {layout}.0 (expected {fmt.size})",
            Result.STRUCTURE_ERROR, 0,
        )
    _, _, _, msg_id, result = fmt.unpack(frame)
    if command_id == _SUBMIT_RESP_ID:
        return SubmitResp(sequence, msg_id, result)
    return DeliverResp(sequence, msg_id, result)


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("latin-1")


def _decode_submit(frame: bytes, command_id: int, sequence: int, layout: int, hint: bool) -> Submit:
    size = len(frame)
    fmt = _SUBMIT[layout]
    tsize = _TERMINAL[layout]
    fixed = HEADER_SIZE + _SUBMIT_FIXED[layout]
    if size < fixed:
        raise _error(
            frame, command_id, sequence, layout, hint,
            f"Total_Length {size} is below the CMPP {layout}.0 minimum of {fixed}",
            Result.LENGTH_ERROR, 0,
        )
    v = fmt.unpack_from(frame)
    n = v[-1]
    off = fmt.size
    end = off + tsize * n
    type_size = 1 if layout == 3 else 0
    if size < fixed + tsize * n:
        raise _error(
            frame, command_id, sequence, layout, hint,
            f"DestUsr_tl {n} needs at least {fixed + tsize * n} octets, Total_Length is {size}",
            Result.LENGTH_ERROR, off - 1,
        )
    dests = [_text(frame[o : o + tsize]) for o in range(off, end, tsize)]
    length = frame[end + type_size]
    if size != fixed + tsize * n + length:
        raise _error(
            frame, command_id, sequence, layout, hint,
            f"Msg_Length {length} with DestUsr_tl {n} needs Total_Length {fixed + tsize * n + length},"
            f" got {size}",
            Result.LENGTH_ERROR, end + type_size,
        )
    content_at = end + type_size + 1
    tail = _text(frame[content_at + length :])
    if layout == 3:
        return Submit(
            sequence, v[3], v[4], v[5], v[6], v[7], _text(v[8]), v[9], _text(v[10]), v[11], v[12],
            v[13], v[14], _text(v[15]), _text(v[16]), _text(v[17]), _text(v[18]), _text(v[19]),
            _text(v[20]), dests, frame[end], frame[content_at : content_at + length], tail,
        )
    return Submit(
        sequence, v[3], v[4], v[5], v[6], v[7], _text(v[8]), v[9], _text(v[10]), 0, v[11], v[12],
        v[13], _text(v[14]), _text(v[15]), _text(v[16]), _text(v[17]), _text(v[18]), _text(v[19]),
        dests, 0, frame[content_at : content_at + length], "", tail,
    )


def _decode_deliver(frame: bytes, command_id: int, sequence: int, layout: int, hint: bool) -> Deliver:
    size = len(frame)
    fmt = _DELIVER[layout]
    fixed = HEADER_SIZE + _DELIVER_FIXED[layout]
    if size < fixed:
        raise _error(
            frame, command_id, sequence, layout, hint,
            f"Total_Length {size} is below the CMPP {layout}.0 minimum of {fixed}",
            Result.LENGTH_ERROR, 0,
        )
    v = fmt.unpack_from(frame)
    length = v[-1]
    if size != fixed + length:
        raise _error(
            frame, command_id, sequence, layout, hint,
            f"Msg_Length {length} needs Total_Length {fixed + length}, got {size}",
            Result.LENGTH_ERROR, fmt.size - 1,
        )
    off = fmt.size
    content = frame[off : off + length]
    tail = _text(frame[off + length :])
    if layout == 3:
        return Deliver(
            sequence, v[3], _text(v[4]), _text(v[5]), v[6], v[7], v[8], _text(v[9]), v[10], v[11],
            content, tail,
        )
    return Deliver(
        sequence, v[3], _text(v[4]), _text(v[5]), v[6], v[7], v[8], _text(v[9]), 0, v[10],
        content, "", tail,
    )


_DECODERS: dict[int, Decoder] = {
    **{cid: _decode_fixed for cid in _FIXED_BODY[3]},
    CommandId.SUBMIT: _decode_submit,
    CommandId.DELIVER: _decode_deliver,
    CommandId.SUBMIT_RESP: _decode_resp,
    CommandId.DELIVER_RESP: _decode_resp,
}


# ------------------------------------------------------------------------------ encoding


def _explain(pdu: Pdu, layout: int) -> NoReturn:
    """Slow path of a failed hot-path encode: let the schema name the offending field."""
    _build(pdu, layout)
    raise LocalProtocolError(f"cannot encode {type(pdu).__name__}: a field does not fit")


def _build(pdu: Pdu, layout: int) -> bytes:
    try:
        return schema.build(pdu, layout)
    except (ConstructError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise LocalProtocolError(f"cannot encode {type(pdu).__name__}: {exc}") from None


def _encode_submit(p: Submit, layout: int) -> bytes:
    tsize = _TERMINAL[layout]
    try:
        svc = p.service_id.encode("latin-1")
        fti = p.fee_terminal_id.encode("latin-1")
        src = p.msg_src.encode("latin-1")
        fee_type = p.fee_type.encode("latin-1")
        fee_code = p.fee_code.encode("latin-1")
        valid = p.valid_time.encode("latin-1")
        at = p.at_time.encode("latin-1")
        src_id = p.src_id.encode("latin-1")
        dests = [d.encode("latin-1") for d in p.dest_terminal_ids]
        tail = (p.link_id if layout == 3 else p.reserve).encode("latin-1")
    except (UnicodeEncodeError, AttributeError):
        _explain(p, layout)
    content = p.msg_content
    n = len(dests)
    length = len(content)
    if (
        len(svc) > 10 or len(fti) > tsize or len(src) > 6 or len(fee_type) > 2
        or len(fee_code) > 6 or len(valid) > 17 or len(at) > 17 or len(src_id) > 21
        or len(tail) > _TAIL[layout] or n > 255 or length > 255
        or any(len(d) > tsize for d in dests)
    ):
        _explain(p, layout)
    total = HEADER_SIZE + _SUBMIT_FIXED[layout] + tsize * n + length
    buf = bytearray(total)
    try:
        if layout == 3:
            _SUBMIT[3].pack_into(
                buf, 0, total, _SUBMIT_ID, p.sequence, p.msg_id, p.pk_total, p.pk_number,
                p.registered_delivery, p.msg_level, svc, p.fee_user_type, fti, p.fee_terminal_type,
                p.tp_pid, p.tp_udhi, p.msg_fmt, src, fee_type, fee_code, valid, at, src_id, n,
            )
        else:
            _SUBMIT[2].pack_into(
                buf, 0, total, _SUBMIT_ID, p.sequence, p.msg_id, p.pk_total, p.pk_number,
                p.registered_delivery, p.msg_level, svc, p.fee_user_type, fti,
                p.tp_pid, p.tp_udhi, p.msg_fmt, src, fee_type, fee_code, valid, at, src_id, n,
            )
        off = _SUBMIT[layout].size
        for d in dests:
            buf[off : off + len(d)] = d
            off += tsize
        if layout == 3:
            buf[off] = p.dest_terminal_type
            off += 1
        buf[off] = length
        buf[off + 1 : off + 1 + length] = content
        off += 1 + length
        buf[off : off + len(tail)] = tail
    except (struct.error, ValueError, TypeError):
        _explain(p, layout)
    return bytes(buf)


def _encode_deliver(p: Deliver, layout: int) -> bytes:
    tsize = _TERMINAL[layout]
    try:
        dest_id = p.dest_id.encode("latin-1")
        svc = p.service_id.encode("latin-1")
        src = p.src_terminal_id.encode("latin-1")
        tail = (p.link_id if layout == 3 else p.reserved).encode("latin-1")
    except (UnicodeEncodeError, AttributeError):
        _explain(p, layout)
    content = p.msg_content
    length = len(content)
    if len(dest_id) > 21 or len(svc) > 10 or len(src) > tsize or len(tail) > _TAIL[layout] or length > 255:
        _explain(p, layout)
    total = HEADER_SIZE + _DELIVER_FIXED[layout] + length
    buf = bytearray(total)
    try:
        if layout == 3:
            _DELIVER[3].pack_into(
                buf, 0, total, _DELIVER_ID, p.sequence, p.msg_id, dest_id, svc, p.tp_pid, p.tp_udhi,
                p.msg_fmt, src, p.src_terminal_type, p.registered_delivery, length,
            )
        else:
            _DELIVER[2].pack_into(
                buf, 0, total, _DELIVER_ID, p.sequence, p.msg_id, dest_id, svc, p.tp_pid, p.tp_udhi,
                p.msg_fmt, src, p.registered_delivery, length,
            )
        off = _DELIVER[layout].size
        buf[off : off + length] = content
        off += length
        buf[off : off + len(tail)] = tail
    except (struct.error, ValueError, TypeError):
        _explain(p, layout)
    return bytes(buf)
