"""The codec's fast paths on the receipt path against the general code: the TLVs of a
submit_sm / deliver_sm (``_sm_tlvs`` against ``decode_tlvs``) and the empty deliver_sm_resp."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import smpp
from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.smpp.codec import _sm_tlvs, schema_encode
from protocols.smpp.pdus import BODY_OMITTED_ON_ERROR
from protocols.tlv import Tlv, decode_tlvs

_tlv = st.builds(lambda tag, value: struct.pack(">HH", tag, len(value)) + value,
                 st.integers(0, 0xFFFF), st.binary(max_size=12))
_lying_tlv = st.builds(lambda tag, length, value: struct.pack(">HH", tag, length) + value,
                       st.integers(0, 0xFFFF), st.integers(0, 20), st.binary(max_size=12))


def _outcome(fn: object, *args: object) -> object:
    try:
        result = fn(*args)  # type: ignore[operator]
    except RemoteProtocolError as exc:
        return ("error", str(exc), exc.status, exc.offset, exc.command_id, exc.sequence)
    return [(type(t), t.tag, t.value, type(t.value)) for t in result]


@given(prefix=st.binary(max_size=5), tlvs=st.lists(_tlv | _lying_tlv, max_size=5), tail=st.binary(max_size=5))
def test_sm_tlvs_as_decode_tlvs(prefix: bytes, tlvs: list[bytes], tail: bytes) -> None:
    frame = prefix + b"".join(tlvs) + tail
    pos, end = len(prefix), len(frame)
    expected = _outcome(lambda: decode_tlvs(frame, pos, end, status=smpp.Status.ESME_RINVOPTPARSTREAM,
                                            command_id=5, sequence=9))
    assert _outcome(lambda: _sm_tlvs(frame, pos, end, 5, 9)) == expected


@given(tlvs=st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=12)), max_size=4),
       cut=st.integers(0, 8))
def test_deliver_sm_decodes_its_tlvs_or_fails_as_before(tlvs: list[Tlv], cut: int) -> None:
    frame = smpp.encode(smpp.DeliverSm(sequence=3, esm_class=4, short_message=b"id:1 stat:DELIVRD", tlvs=tlvs))
    cut = min(cut, sum(4 + len(t.value) for t in tlvs))  # into the TLVs only
    if cut:
        frame = struct.pack(">I", len(frame) - cut) + frame[4:-cut]
    header_and_body = len(smpp.encode(smpp.DeliverSm(sequence=3, esm_class=4, short_message=b"id:1 stat:DELIVRD")))
    expected = _outcome(lambda: decode_tlvs(frame, header_and_body, len(frame),
                                            status=smpp.Status.ESME_RINVOPTPARSTREAM, command_id=5, sequence=3))
    try:
        pdu = smpp.decode(frame)
    except RemoteProtocolError as exc:
        assert expected == ("error", str(exc), exc.status, exc.offset, exc.command_id, exc.sequence)
        return
    assert _outcome(lambda: pdu.tlvs) == expected


@given(sequence=st.integers(-2, 2**32 + 1), status=st.sampled_from([0, 0, 8, 0x64]),
       message_id=st.sampled_from(["", "", "a"]), tlvs=st.sampled_from([[], [Tlv(0x1E, b"1\0")]]))
def test_deliver_sm_resp_as_the_general_encode(sequence: int, status: int, message_id: str, tlvs: list[Tlv]) -> None:
    pdu = smpp.DeliverSmResp(sequence=sequence, status=status, message_id=message_id, tlvs=tlvs)
    try:
        wire = smpp.encode(pdu)
    except LocalProtocolError:
        assert not 0 <= sequence <= 0xFFFFFFFF
        return
    assert 0 <= sequence <= 0xFFFFFFFF
    omitted = status and smpp.CommandId.DELIVER_SM_RESP in BODY_OMITTED_ON_ERROR and not tlvs
    body = b"" if omitted else schema_encode(pdu)
    assert wire == struct.pack(">IIII", 16 + len(body), smpp.CommandId.DELIVER_SM_RESP, status, sequence) + body


@pytest.mark.parametrize("sequence", [1, 0x7FFFFFFF])
def test_empty_deliver_sm_resp_wire(sequence: int) -> None:
    assert smpp.encode(smpp.DeliverSmResp(sequence)) == struct.pack(">IIIIB", 17, 0x80000005, 0, sequence, 0)
