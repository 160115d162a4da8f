"""The submit_sm / deliver_sm encoder's fast path (fixed fields' octets kept per value) against the
general encoder: the same octets, or the same error, for valid and invalid fields, on a miss and
on a hit."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import LocalProtocolError
from protocols.smpp import DeliverSm, SubmitSm, codec
from protocols.smpp.codec import _encode_sm, _encode_sm_general, encode
from protocols.tlv import Tlv

_chars = st.characters(min_codepoint=0, max_codepoint=300)  # NUL and non-latin-1 included


def _str(size: int) -> st.SearchStrategy[str]:
    # fitting C-strings, the longest that fits and one octet more, with a NUL or not latin-1
    latin = st.characters(min_codepoint=1, max_codepoint=255)
    return st.one_of(st.text(latin, max_size=size - 1), st.text(latin, min_size=size - 1, max_size=size),
                     st.text(_chars, max_size=size + 2))


_int = st.one_of(st.integers(0, 255), st.integers(-2, 300))
_time = st.one_of(st.just(""), st.text(st.characters(min_codepoint=1, max_codepoint=255), min_size=16,
                                       max_size=16), st.text(_chars, max_size=18))

fixed_fields = st.fixed_dictionaries({
    "service_type": _str(6), "source_addr_ton": _int, "source_addr_npi": _int,
    "source_addr": _str(21), "dest_addr_ton": _int, "dest_addr_npi": _int, "esm_class": _int,
    "protocol_id": _int, "priority_flag": _int, "schedule_delivery_time": _time,
    "validity_period": _time,
})
variable_fields = st.fixed_dictionaries({
    "sequence": st.integers(1, 0x7FFFFFFF), "destination_addr": _str(21),
    "registered_delivery": _int, "replace_if_present_flag": _int, "data_coding": _int,
    "sm_default_msg_id": _int,
    "short_message": st.one_of(st.binary(max_size=254), st.binary(min_size=250, max_size=260)),
    "tlvs": st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=8)), max_size=2),
})


def outcome(fn: Any, pdu: Any) -> tuple[Any, Any]:
    try:
        return "ok", fn(pdu)
    except Exception as exc:  # the exact exception is compared
        return type(exc), str(exc)


@settings(max_examples=300)
@given(cls=st.sampled_from([SubmitSm, DeliverSm]), fixed=fixed_fields, first=variable_fields,
       second=variable_fields)
def test_fast_path_matches_the_general_encoder(
    cls: type, fixed: dict[str, Any], first: dict[str, Any], second: dict[str, Any]
) -> None:
    codec._SM_FIXED.clear()
    pdu = cls(**fixed, **first)
    expected = outcome(_encode_sm_general, pdu)
    assert outcome(_encode_sm, pdu) == expected  # a miss
    assert outcome(_encode_sm, pdu) == expected  # a hit when the fixed fields encoded
    other = dataclasses.replace(pdu, **second)  # same fixed fields, other variable ones
    assert outcome(_encode_sm, other) == outcome(_encode_sm_general, other)


def test_kept_fixed_octets_stay_bounded() -> None:
    codec._SM_FIXED.clear()
    for i in range(codec._SM_FIXED_MAX + 10):
        encode(SubmitSm(sequence=1, source_addr=str(i), destination_addr="8613800000000"))
    assert len(codec._SM_FIXED) <= codec._SM_FIXED_MAX


def test_destination_error_on_a_hit() -> None:
    encode(SubmitSm(sequence=1, source_addr="1069", destination_addr="1"))
    bad = SubmitSm(sequence=1, source_addr="1069", destination_addr="1" * 21)
    try:
        encode(bad)
    except LocalProtocolError as exc:
        assert "destination_addr" in str(exc)
    else:
        raise AssertionError("a 21-octet destination_addr was encoded")
