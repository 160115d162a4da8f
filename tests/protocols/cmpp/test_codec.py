"""Round trips, the struct hot path against the construct schema, errors and fuzzing."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.cmpp import (
    ActiveTest,
    Cancel,
    CommandId,
    ConnectResp,
    Deliver,
    Submit,
    SubmitResp,
    decode,
    encode,
    has_udh,
    schema,
)
from protocols.cmpp.pdus import PDU_CLASSES
from protocols.errors import LocalProtocolError, RemoteProtocolError

from .strategies import mutated, pdus, raw_frames

LAYOUTS = pytest.mark.parametrize("layout", [2, 3])
FUZZ = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@LAYOUTS
@given(data=st.data())
def test_encode_decode_round_trip(layout: int, data: st.DataObject) -> None:
    pdu = data.draw(pdus(layout))
    frame = encode(pdu, layout)
    assert decode(frame, layout) == pdu
    assert encode(decode(frame, layout), layout) == frame


def test_every_pdu_class_is_generated() -> None:
    seen: set[type] = set()

    @given(pdus(3))
    @settings(max_examples=400, derandomize=True)  # a fixed sample: all classes, every run
    def collect(pdu: object) -> None:
        seen.add(type(pdu))

    collect()
    assert seen == set(PDU_CLASSES.values())


@LAYOUTS
@given(data=st.data())
def test_decode_encode_same_bytes_for_any_valid_frame(layout: int, data: st.DataObject) -> None:
    """Padding may hold garbage: only trailing NULs are stripped, so bytes survive."""
    frame = data.draw(raw_frames(layout))
    assert encode(decode(frame, layout), layout) == frame


@LAYOUTS
@given(data=st.data())
def test_struct_path_agrees_with_schema(layout: int, data: st.DataObject) -> None:
    pdu = data.draw(pdus(layout))
    assert encode(pdu, layout) == schema.build(pdu, layout)
    frame = data.draw(raw_frames(layout))
    assert decode(frame, layout) == schema.parse(frame, layout)


def test_version_aliases() -> None:
    pdu = SubmitResp(msg_id=1, result=8)
    assert encode(pdu, 0x30) == encode(pdu, 3)
    assert encode(pdu, 0x20) == encode(pdu, 0x21) == encode(pdu, 2)
    with pytest.raises(ValueError):
        encode(pdu, 4)


def test_other_version_fields_are_ignored() -> None:
    pdu = Submit(link_id="L", fee_terminal_type=1, dest_terminal_type=1, reserve="R", dest_terminal_ids=["1"])
    v2 = decode(encode(pdu, 2), 2)
    assert (v2.link_id, v2.fee_terminal_type, v2.dest_terminal_type, v2.reserve) == ("", 0, 0, "R")
    v3 = decode(encode(pdu, 3), 3)
    assert (v3.link_id, v3.fee_terminal_type, v3.dest_terminal_type, v3.reserve) == ("L", 1, 1, "")


def test_has_udh_accepts_1_and_0x40() -> None:
    assert has_udh(Submit(tp_udhi=1)) and has_udh(Deliver(tp_udhi=0x40))
    assert not has_udh(Submit(tp_udhi=0)) and not has_udh(Deliver(tp_udhi=0x02))


# ------------------------------------------------------------------------------ errors


def _error(frame: bytes, layout: int = 3) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        decode(frame, layout)
    return info.value


def test_v2_connect_resp_in_v3_session_names_the_version() -> None:
    err = _error(encode(ConnectResp(sequence=9), 2), 3)
    assert "CMPP 2.0" in err.message and "33" in err.message and err.fatal
    assert (err.command_id, err.sequence) == (CommandId.CONNECT_RESP, 9)


@pytest.mark.parametrize("pdu", [SubmitResp(sequence=3), Submit(sequence=3, dest_terminal_ids=["1"]),
                                 Deliver(sequence=3, msg_content=b"abc")])
def test_other_layout_is_recognised(pdu: object) -> None:
    err = _error(encode(pdu, 2), 3)  # type: ignore[arg-type]
    assert "decodes as CMPP 2.0" in err.message and not err.fatal
    err = _error(encode(pdu, 3), 2)  # type: ignore[arg-type]
    assert "decodes as CMPP 3.0" in err.message


def test_submit_length_errors_carry_result_4() -> None:
    frame = bytearray(encode(Submit(sequence=5, dest_terminal_ids=["1"], msg_content=b"abc")))
    frame[frame.index(b"\x03abc")] = 9  # Msg_Length 3 -> 9
    err = _error(bytes(frame))
    assert err.status == 4 and err.sequence == 5 and err.command_id == CommandId.SUBMIT
    assert "Msg_Length 9" in err.message
    short = encode(Submit(sequence=5))[:-1]
    err = _error(struct.pack(">I", len(short)) + short[4:])
    assert err.status == 4


def test_fixed_body_error_carries_result_1() -> None:
    frame = encode(Cancel(sequence=2, msg_id=1)) + b"\0"
    err = _error(struct.pack(">I", len(frame)) + frame[4:])
    assert err.status == 1 and err.command_id == CommandId.CANCEL


def test_total_length_mismatch_and_short_frame() -> None:
    frame = encode(ActiveTest(sequence=1))
    assert _error(frame + b"x").status == 4
    assert _error(frame[:8]).status == 4


@pytest.mark.parametrize("command_id", [0x03, 0x09, 0x10, 0x17, 0x18, 0x80000010, 0xDEADBEEF])
def test_unknown_and_route_commands(command_id: int) -> None:
    err = _error(struct.pack(">III", 12, command_id, 77))
    assert err.status == 2 and err.command_id == command_id and err.sequence == 77
    assert not err.fatal


@pytest.mark.parametrize(
    ("pdu", "needle"),
    [
        (Submit(service_id="x" * 11), "Service_Id"),
        (Submit(dest_terminal_ids=["1" * 33]), "Dest_terminal_Id"),
        (Submit(src_id="中"), "latin-1"),
        (Submit(msg_content=bytes(256)), "msg_length"),
        (Submit(dest_terminal_ids=["1"] * 256), "dest_usr_tl"),
        (Submit(pk_total=256), "pk_total"),
        (Deliver(src_terminal_id="1" * 33), "Src_terminal_Id"),
        (Deliver(msg_id=-1), "msg_id"),
        (SubmitResp(result=2**32), "result"),
        (ConnectResp(authenticator_ismg=b"short"), "AuthenticatorISMG"),
    ],
)
def test_encode_errors_name_the_field(pdu: object, needle: str) -> None:
    with pytest.raises(LocalProtocolError, match=needle):
        encode(pdu)  # type: ignore[arg-type]


def test_v2_width_limits() -> None:
    with pytest.raises(LocalProtocolError):
        encode(SubmitResp(result=256), 2)
    with pytest.raises(LocalProtocolError, match="Fee_terminal_Id"):
        encode(Submit(fee_terminal_id="1" * 22), 2)
    assert len(encode(Submit(fee_terminal_id="1" * 22), 3)) == 163


# -------------------------------------------------------------------------------- fuzz


@LAYOUTS
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_raise_only_remote_error(layout: int, data: bytes) -> None:
    for frame in (data, struct.pack(">I", len(data) + 4) + data):
        with contextlib.suppress(RemoteProtocolError):
            decode(frame, layout)


@LAYOUTS
@FUZZ
@given(data=st.data())
def test_mutated_frames_raise_only_remote_error(layout: int, data: st.DataObject) -> None:
    frame = data.draw(mutated(layout))
    try:
        pdu = decode(frame, layout)
    except RemoteProtocolError as exc:
        assert exc.status in (1, 2, 4)
    else:
        assert encode(pdu, layout) == frame
