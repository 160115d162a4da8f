"""Round trips for every PDU, the struct hot path against the construct schema, and
the decoder's error contract."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.smgp import codec, schema
from protocols.smgp.constants import CommandId, Status
from protocols.smgp.pdus import PDU_CLASSES, Deliver, DeliverResp, Submit, SubmitResp

from .strategies import pdu_strategy

HOT = (Submit, SubmitResp, Deliver, DeliverResp)


@pytest.mark.parametrize("cls", list(PDU_CLASSES.values()), ids=lambda c: c.__name__)
@settings(max_examples=150)
@given(data=st.data())
def test_round_trip(cls: type, data: st.DataObject) -> None:
    pdu = data.draw(pdu_strategy(cls))
    frame = codec.encode(pdu)
    assert int.from_bytes(frame[:4], "big") == len(frame)
    assert codec.decode(frame) == pdu
    assert codec.encode(codec.decode(frame)) == frame


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
@settings(max_examples=200)
@given(data=st.data())
def test_hot_path_matches_schema(cls: type, data: st.DataObject) -> None:
    pdu = data.draw(pdu_strategy(cls))
    frame = codec.encode(pdu)
    assert schema.build(pdu) == frame
    assert schema.parse(frame) == codec.decode(frame) == pdu


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except RemoteProtocolError as exc:
        return ("error", exc.status, exc.command_id, exc.sequence)


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
@settings(max_examples=300)
@given(data=st.data())
def test_hot_path_agrees_with_schema_on_damaged_bodies(cls: type, data: st.DataObject) -> None:
    """Struct and construct accept and reject exactly the same bodies."""
    frame = bytearray(codec.encode(data.draw(pdu_strategy(cls))))
    for _ in range(data.draw(st.integers(1, 4))):
        if len(frame) > 12:
            i = data.draw(st.integers(12, len(frame) - 1))
            frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(12, len(frame)))
    extra = data.draw(st.binary(max_size=6))
    body = bytes(frame[12:cut]) + extra
    whole = (12 + len(body)).to_bytes(4, "big") + bytes(frame[4:12]) + body
    seq = int.from_bytes(frame[8:12], "big")
    assert _outcome(codec.decode, whole) == _outcome(schema.parse_body, cls.command_id, seq, body)


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_decode_random_bytes_raises_only_remote_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        codec.decode(data)


@settings(max_examples=500)
@given(st.sampled_from(sorted(PDU_CLASSES)), st.binary(max_size=300))
def test_decode_random_bodies_raises_only_remote_error(command_id: int, body: bytes) -> None:
    frame = (12 + len(body)).to_bytes(4, "big") + command_id.to_bytes(4, "big") + b"\0\0\0\1" + body
    try:
        codec.decode(frame)
    except RemoteProtocolError as exc:
        assert exc.status == Status.MESSAGE_STRUCTURE_ERROR
        assert (exc.command_id, exc.sequence) == (command_id, 1)


@pytest.mark.parametrize("command_id", [0x05, 0x08, 0x12, 0x13, 0x80000008, 0xDEADBEEF])
def test_unknown_and_unimplemented_commands(command_id: int) -> None:
    frame = bytes.fromhex("0000000c") + command_id.to_bytes(4, "big") + bytes.fromhex("00000005")
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(frame)
    assert info.value.status == Status.COMMAND_WORD_ERROR
    assert (info.value.command_id, info.value.sequence) == (command_id, 5)


def test_length_mismatch_and_short_frame() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(bytes.fromhex("0000000d0000000400000001"))
    assert info.value.status == Status.MESSAGE_STRUCTURE_ERROR
    assert info.value.command_id == CommandId.ACTIVE_TEST
    with pytest.raises(RemoteProtocolError):
        codec.decode(b"\0\0\0\x0c")


def test_bodyless_pdu_with_a_body_is_malformed() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(bytes.fromhex("0000000d800000040000000100"))  # CMPP-style Active_Test_Resp
    assert info.value.status == Status.MESSAGE_STRUCTURE_ERROR


@pytest.mark.parametrize(
    "pdu",
    [
        Submit(service_id="x" * 11),
        Submit(dest_term_ids=["中"]),
        Submit(msg_content=b"x" * 256),
        Submit(priority=256),
        Submit(sequence=-1),
        Deliver(msg_id=b"short"),
        SubmitResp(status=1 << 32),
        PDU_CLASSES[CommandId.LOGIN](client_id="123456789"),
        PDU_CLASSES[CommandId.LOGIN_RESP](authenticator_server=b""),
        PDU_CLASSES[CommandId.QUERY](query_type=300),
    ],
)
def test_encode_rejects_fields_that_do_not_fit(pdu: Any) -> None:
    with pytest.raises(LocalProtocolError):
        codec.encode(pdu)


def test_tlv_accessors() -> None:
    pdu = Submit()
    pdu.pk_total, pdu.pk_number, pdu.link_id = 3, 2, "L1"
    assert pdu.get_tlv(0x0003) == b"L1".ljust(20, b"\0")
    pdu.pk_total = 4
    assert [t.tag for t in pdu.tlvs] == [0x0009, 0x000A, 0x0003]
    assert (pdu.pk_total, pdu.link_id) == (4, "L1")
    pdu.pk_number = None
    assert pdu.pk_number is None and len(pdu.tlvs) == 2
    assert not pdu.udhi
    pdu.tp_udhi = 0x40  # some gateways send SMPP's esm_class bit (E.6)
    assert pdu.udhi
    with pytest.raises(LocalProtocolError):
        pdu.msg_src = "123456789"
    with pytest.raises(LocalProtocolError):
        pdu.tp_pid = 256
