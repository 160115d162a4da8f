"""Hypothesis strategies for CMPP PDUs and raw frames, per layout version (2 or 3)."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from protocols.cmpp import (
    ActiveTest,
    ActiveTestResp,
    Cancel,
    CancelResp,
    Connect,
    ConnectResp,
    Deliver,
    DeliverResp,
    Query,
    QueryResp,
    Submit,
    SubmitResp,
    Terminate,
    TerminateResp,
)
from protocols.cmpp.codec import _FIXED_BODY
from protocols.cmpp.constants import CommandId

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)


def text(size: int) -> st.SearchStrategy[str]:
    """Latin-1 text of at most ``size`` octets without trailing NULs (they are padding)."""
    return st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=size).map(
        lambda s: s.rstrip("\0")
    )


def pdus(layout: int) -> st.SearchStrategy:
    """Any PDU, with the fields of the other version left at their defaults."""
    v3 = layout == 3
    status = u32 if v3 else u8
    term = 32 if v3 else 21
    none3 = st.just("")
    return st.one_of(
        st.builds(Connect, sequence=u32, source_addr=text(6), authenticator_source=st.binary(min_size=16, max_size=16),
                  version=u8, timestamp=u32),
        st.builds(ConnectResp, sequence=u32, status=status,
                  authenticator_ismg=st.binary(min_size=16, max_size=16), version=u8),
        st.builds(Terminate, sequence=u32),
        st.builds(TerminateResp, sequence=u32),
        st.builds(ActiveTest, sequence=u32),
        st.builds(ActiveTestResp, sequence=u32, reserved=u8),
        st.builds(
            Submit, sequence=u32, msg_id=u64, pk_total=u8, pk_number=u8, registered_delivery=u8,
            msg_level=u8, service_id=text(10), fee_user_type=u8, fee_terminal_id=text(term),
            fee_terminal_type=u8 if v3 else st.just(0), tp_pid=u8, tp_udhi=u8, msg_fmt=u8,
            msg_src=text(6), fee_type=text(2), fee_code=text(6), valid_time=text(17),
            at_time=text(17), src_id=text(21), dest_terminal_ids=st.lists(text(term), max_size=4),
            dest_terminal_type=u8 if v3 else st.just(0), msg_content=st.binary(max_size=255),
            link_id=text(20) if v3 else none3, reserve=none3 if v3 else text(8),
        ),
        st.builds(SubmitResp, sequence=u32, msg_id=u64, result=status),
        st.builds(
            Deliver, sequence=u32, msg_id=u64, dest_id=text(21), service_id=text(10), tp_pid=u8,
            tp_udhi=u8, msg_fmt=u8, src_terminal_id=text(term),
            src_terminal_type=u8 if v3 else st.just(0), registered_delivery=u8,
            msg_content=st.binary(max_size=255), link_id=text(20) if v3 else none3,
            reserved=none3 if v3 else text(8),
        ),
        st.builds(DeliverResp, sequence=u32, msg_id=u64, result=status),
        st.builds(Query, sequence=u32, time=text(8), query_type=u8, query_code=text(10), reserve=text(8)),
        st.builds(QueryResp, sequence=u32, time=text(8), query_type=u8, query_code=text(10),
                  mt_tlmsg=u32, mt_tlusr=u32, mt_scs=u32, mt_wt=u32, mt_fl=u32, mo_scs=u32,
                  mo_wt=u32, mo_fl=u32),
        st.builds(Cancel, sequence=u32, msg_id=u64),
        st.builds(CancelResp, sequence=u32, success_id=status),
    )


def _frame(command_id: int, sequence: int, body: bytes) -> bytes:
    return struct.pack(">III", 12 + len(body), command_id, sequence) + body


@st.composite
def raw_frames(draw: st.DrawFn, layout: int) -> bytes:
    """A structurally valid frame made of random octets (padding need not be NULs)."""
    term = 32 if layout == 3 else 21
    kind = draw(st.sampled_from([*sorted(_FIXED_BODY[layout]), CommandId.SUBMIT, CommandId.DELIVER]))
    sequence = draw(u32)
    if kind == CommandId.SUBMIT:
        n = draw(st.integers(0, 4))
        length = draw(st.integers(0, 255))
        head = draw(st.binary(min_size=128 if layout == 3 else 116, max_size=128 if layout == 3 else 116))
        dests = draw(st.binary(min_size=term * n, max_size=term * n))
        dest_type = draw(st.binary(min_size=1, max_size=1)) if layout == 3 else b""
        content = draw(st.binary(min_size=length, max_size=length))
        tail = draw(st.binary(min_size=20 if layout == 3 else 8, max_size=20 if layout == 3 else 8))
        body = head + bytes([n]) + dests + dest_type + bytes([length]) + content + tail
    elif kind == CommandId.DELIVER:
        length = draw(st.integers(0, 255))
        size = 76 if layout == 3 else 64
        head = draw(st.binary(min_size=size, max_size=size))
        content = draw(st.binary(min_size=length, max_size=length))
        tail = draw(st.binary(min_size=20 if layout == 3 else 8, max_size=20 if layout == 3 else 8))
        body = head + bytes([length]) + content + tail
    else:
        size = _FIXED_BODY[layout][kind]
        body = draw(st.binary(min_size=size, max_size=size))
    return _frame(kind, sequence, body)


@st.composite
def mutated(draw: st.DrawFn, layout: int) -> bytes:
    """A valid frame truncated, with flipped octets, a wrong length or count, or extended."""
    frame = bytearray(draw(raw_frames(layout)))
    how = draw(st.sampled_from(["truncate", "flip", "length", "count", "extend"]))
    if how == "truncate":
        del frame[draw(st.integers(0, len(frame) - 1)):]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(frame) - 1))
            frame[i] ^= draw(st.integers(1, 255))
    elif how == "length":
        frame[0:4] = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
    elif how == "count" and len(frame) > 12:
        frame[draw(st.integers(12, len(frame) - 1))] = draw(st.integers(0, 255))
    else:
        frame += draw(st.binary(min_size=1, max_size=40))
        if draw(st.booleans()):
            frame[0:4] = struct.pack(">I", len(frame))
    return bytes(frame)
