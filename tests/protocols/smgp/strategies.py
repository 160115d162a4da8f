"""Hypothesis strategies for every SMGP PDU, built from the dataclass fields."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from protocols.smgp.pdus import PDU_CLASSES
from protocols.tlv import Tlv

U8 = st.integers(0, 0xFF)
U32 = st.integers(0, 0xFFFFFFFF)


def fixed(size: int) -> st.SearchStrategy[str]:
    """An Octet String value that survives the 0x00-strip of decoding."""
    chars = st.characters(min_codepoint=0, max_codepoint=255)
    return st.text(chars, max_size=size).map(lambda s: s.rstrip("\0"))


TLVS = st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=24)), max_size=5)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "sequence": U32,
    "client_id": fixed(8),
    "authenticator_client": st.binary(min_size=16, max_size=16),
    "authenticator_server": st.binary(min_size=16, max_size=16),
    "msg_id": st.binary(min_size=10, max_size=10),
    "service_id": fixed(10),
    "fee_type": fixed(2),
    "fee_code": fixed(6),
    "fixed_fee": fixed(6),
    "valid_time": fixed(17),
    "at_time": fixed(17),
    "src_term_id": fixed(21),
    "charge_term_id": fixed(21),
    "dest_term_id": fixed(21),
    "dest_term_ids": st.lists(fixed(21), max_size=6),
    "recv_time": fixed(14),
    "reserve": fixed(8),
    "query_time": fixed(8),
    "query_code": fixed(10),
    "msg_content": st.binary(max_size=255),
    "tlvs": TLVS,
    "timestamp": U32,
    "status": U32,
}


def pdu_strategy(cls: type) -> st.SearchStrategy[Any]:
    kwargs = {f.name: FIELDS.get(f.name, U32 if f.name[:3] in ("mt_", "mo_") else U8)
              for f in dataclasses.fields(cls)}
    return st.builds(cls, **kwargs)


ANY_PDU = st.one_of([pdu_strategy(cls) for cls in PDU_CLASSES.values()])
