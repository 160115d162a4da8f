"""Hypothesis strategies for every SMPP PDU: valid values within the spec maxima, so that
encode -> decode is the identity."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from protocols.smpp.pdus import (
    BODY_OMITTED_ON_ERROR,
    PDU_CLASSES,
    AlertNotification,
    DataSm,
    DestAddress,
    SmppPdu,
    UnsuccessSme,
)
from protocols.tlv import Tlv

#: C-string maxima including the NUL (A.3); per-class overrides below
MAXIMA = {
    "system_id": 16, "password": 9, "system_type": 13, "address_range": 41,
    "service_type": 6, "source_addr": 21, "destination_addr": 21, "message_id": 65,
    "esme_addr": 65, "dl_name": 21,
}
OVERRIDES = {
    (DataSm, "source_addr"): 65, (DataSm, "destination_addr"): 65,
    (AlertNotification, "source_addr"): 65,
}
TIMES = {"schedule_delivery_time", "validity_period", "final_date"}
U32 = {"sequence", "status", "error_status_code"}

u8 = st.integers(0, 255)
u32 = st.integers(0, 0xFFFFFFFF)
_chars = st.characters(min_codepoint=1, max_codepoint=255)


def cstr(size: int) -> st.SearchStrategy[str]:
    return st.text(_chars, max_size=size - 1)


time_str = st.one_of(st.just(""), st.text(_chars, min_size=16, max_size=16))
tlvs = st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=4)
dest_address = st.one_of(
    st.builds(DestAddress, st.just(1), u8, u8, cstr(21), st.just("")),
    st.builds(DestAddress, st.just(2), st.just(0), st.just(0), st.just(""), cstr(21)),
)
unsuccess = st.builds(UnsuccessSme, u8, u8, cstr(21), u32)


def _field(cls: type, name: str) -> st.SearchStrategy[Any]:
    if name in U32:
        return u32
    if name in TIMES:
        return time_str
    if name in MAXIMA:
        return cstr(OVERRIDES.get((cls, name), MAXIMA[name]))
    if name == "short_message":
        return st.binary(max_size=254)
    if name == "tlvs":
        return tlvs
    if name == "dest_addresses":
        return st.lists(dest_address, max_size=5)
    if name == "unsuccess_smes":
        return st.lists(unsuccess, max_size=4)
    return u8


def _normalise(pdu: SmppPdu) -> SmppPdu:
    """An error response without TLVs is written header-only: its body is the default."""
    if pdu.command_id in BODY_OMITTED_ON_ERROR and getattr(pdu, "status", 0) and not pdu.tlvs:  # type: ignore[attr-defined]
        return type(pdu)(sequence=pdu.sequence, status=pdu.status)  # type: ignore[call-arg,attr-defined]
    return pdu


def pdu_of(cls: type) -> st.SearchStrategy[SmppPdu]:
    fields = {f.name: _field(cls, f.name) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields).map(_normalise)


ALL_CLASSES = sorted(PDU_CLASSES.values(), key=lambda c: c.command_id)
any_pdu = st.one_of([pdu_of(cls) for cls in ALL_CLASSES])
