"""SMPP codec: the PROTOCOLS.md A.1 vector, hand-assembled layouts, error responses in both
forms (E.11), malformed input -> the right command_status, encoder limits, hypothesis
round trips of every PDU, the struct hot path against the construct schema, and fuzzing."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.smpp import (
    BindReceiverResp,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    DestAddress,
    EnquireLink,
    GenericNack,
    QuerySmResp,
    ReplaceSm,
    Status,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    decode,
    encode,
)
from protocols.smpp.codec import schema_decode, schema_encode
from protocols.smpp.constants import MAX_PDU_SIZE
from protocols.smpp.schema import PDU
from protocols.tlv import Tlv

from .strategies import ALL_CLASSES, pdu_of

#: PROTOCOLS.md A.1, copied verbatim
SPEC_BIND = bytes.fromhex(
    "00 00 00 2F 00 00 00 02 00 00 00 00 00 00 00 01 | 53 4D 50 50 33 54 45 53 54 00 | "
    "73 65 63 72 65 74 30 38 00 | 53 55 42 4D 49 54 31 00 | 00 | 01 | 01 | 00".replace("|", "")
)


def header(length: int, command_id: int, status: int, sequence: int) -> bytes:
    return struct.pack(">IIII", length, command_id, status, sequence)


def remote_error(frame: bytes) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        decode(frame)
    return info.value


# ------------------------------------------------------------------------ vectors


def test_spec_bind_transmitter_vector_round_trips_byte_for_byte() -> None:
    pdu = decode(SPEC_BIND)
    assert pdu == BindTransmitter(
        sequence=1, system_id="SMPP3TEST", password="secret08", system_type="SUBMIT1",
        interface_version=0x00, addr_ton=1, addr_npi=1, address_range="",
    )
    assert encode(pdu) == SPEC_BIND
    assert len(SPEC_BIND) == 0x2F
    assert PDU.parse(SPEC_BIND).body.system_id == "SMPP3TEST"  # the schema agrees


def test_submit_sm_layout_assembled_by_hand() -> None:
    body = (
        b"CMT\0" + bytes([5, 0]) + b"SENDER\0" + bytes([1, 1]) + b"4915112345678\0"
        + bytes([0x40, 0, 1]) + b"\0" + b"000001000000000R\0"
        + bytes([1, 0, 8, 0, 4]) + b"\x00h\x00i"
        + bytes.fromhex("020C00020102") + bytes.fromhex("0424000378797A")
    )
    frame = header(16 + len(body), 4, 0, 0x7FFFFFFF) + body
    pdu = SubmitSm(
        sequence=0x7FFFFFFF, service_type="CMT", source_addr_ton=5, source_addr="SENDER",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr="4915112345678", esm_class=0x40,
        priority_flag=1, validity_period="000001000000000R", registered_delivery=1,
        data_coding=8, short_message=b"\x00h\x00i",
        tlvs=[Tlv(0x020C, b"\x01\x02"), Tlv(0x0424, b"xyz")],
    )
    assert encode(pdu) == frame
    assert decode(frame) == pdu


@pytest.mark.parametrize(
    ("pdu", "hex_"),
    [
        (EnquireLink(sequence=1), "00000010000000150000000000000001"),
        (GenericNack(sequence=7, status=Status.ESME_RINVCMDID), "00000010800000000000000300000007"),
        (DeliverSmResp(sequence=2), "0000001180000005000000000000000200"),
        (SubmitSmResp(sequence=3, message_id="ab"), "0000001380000004000000000000000361620" "0"),
    ],
)
def test_small_vectors(pdu: object, hex_: str) -> None:
    assert encode(pdu) == bytes.fromhex(hex_)  # type: ignore[arg-type]
    assert decode(bytes.fromhex(hex_)) == pdu


ERROR_RESPONSES = [BindTransmitterResp, BindReceiverResp, BindTransceiverResp, SubmitSmResp,
                   DataSmResp, QuerySmResp]


@pytest.mark.parametrize("cls", ERROR_RESPONSES)
def test_error_responses_decode_header_only_and_with_body_and_encode_header_only(cls: type) -> None:
    status = Status.ESME_RSUBMITFAIL
    bare = header(16, cls.command_id, status, 9)
    assert decode(bare) == cls(sequence=9, status=status)
    with_body = cls(sequence=9, status=0)
    full = encode(with_body)
    assert len(full) > 16
    errored = bytearray(full)
    errored[8:12] = struct.pack(">I", status)
    assert decode(bytes(errored)) == cls(sequence=9, status=status)
    assert encode(cls(sequence=9, status=status)) == bare


def test_error_response_with_tlvs_keeps_its_body() -> None:
    pdu = DataSmResp(sequence=4, status=Status.ESME_RDELIVERYFAILURE, tlvs=[Tlv(0x0425, b"\x01")])
    frame = encode(pdu)
    assert frame[16:] == b"\0" + bytes.fromhex("042500010" "1")
    assert decode(frame) == pdu


def test_deliver_sm_resp_header_only_is_accepted() -> None:
    assert decode(header(16, CommandId.DELIVER_SM_RESP, 0, 5)) == DeliverSmResp(sequence=5)


# ---------------------------------------------------------------- malformed input


def test_unknown_command_id_names_status_command_and_sequence() -> None:
    for command_id in (0x00000111, 0x0000000A, 0x00010200, 0x12345678):
        exc = remote_error(header(16, command_id, 0, 77))
        assert (exc.status, exc.command_id, exc.sequence, exc.fatal) == (
            Status.ESME_RINVCMDID, command_id, 77, False)


def test_bad_command_length_is_fatal_rinvcmdlen() -> None:
    exc = remote_error(header(17, 0x15, 0, 1))
    assert exc.status == Status.ESME_RINVCMDLEN and exc.fatal
    assert remote_error(b"\0\0\0\x0c" + bytes(8)).status == Status.ESME_RINVCMDLEN
    big = header(MAX_PDU_SIZE + 1, 4, 0, 1) + bytes(MAX_PDU_SIZE - 15)
    assert remote_error(big).status == Status.ESME_RINVCMDLEN


def test_missing_nul_is_rinvcmdlen_at_the_string() -> None:
    frame = header(16 + 5, CommandId.SUBMIT_SM, 0, 3) + b"CMT\0X"
    exc = remote_error(frame)
    assert (exc.status, exc.offset, exc.command_id, exc.sequence) == (
        Status.ESME_RINVCMDLEN, 20, CommandId.SUBMIT_SM, 3)
    bind = header(16 + 3, CommandId.BIND_TRANSMITTER, 0, 3) + b"abc"
    exc = remote_error(bind)
    assert (exc.status, exc.offset) == (Status.ESME_RINVCMDLEN, 16)


@pytest.mark.parametrize("cls", [SubmitSm, DeliverSm, ReplaceSm])
def test_sm_length_past_the_end_is_rinvmsglen(cls: type) -> None:
    frame = bytearray(encode(cls(sequence=3, short_message=b"hello")))
    sm_length_at = len(frame) - 6
    frame[sm_length_at] = 9
    exc = remote_error(bytes(frame))
    assert (exc.status, exc.offset, exc.sequence) == (Status.ESME_RINVMSGLEN, sm_length_at, 3)


def test_truncated_tlv_is_rinvoptparstream() -> None:
    frame = encode(SubmitSm(sequence=1, tlvs=[Tlv(0x0204, b"\x00\x01")]))
    for cut in (1, 3, 5):
        bad = frame[:-cut]
        bad = struct.pack(">I", len(bad)) + bad[4:]
        assert remote_error(bad).status == Status.ESME_RINVOPTPARSTREAM


def test_bad_dest_flag_is_rinvdestflag() -> None:
    frame = bytearray(encode(SubmitMulti(sequence=1, dest_addresses=[DestAddress(1)])))
    frame[16 + 1 + 2 + 1 + 1] = 3
    assert remote_error(bytes(frame)).status == Status.ESME_RINVDESTFLAG


def test_lenient_decoding() -> None:
    long_addr = "1" * 30  # over C(21) but NUL-terminated: accepted
    frame = bytearray(encode(SubmitSm(sequence=1, source_addr="x")))
    frame = frame[:19] + long_addr.encode() + frame[20:]
    frame[0:4] = struct.pack(">I", len(frame))
    assert decode(bytes(frame)).source_addr == long_addr  # type: ignore[attr-defined]
    request_with_status = header(16, CommandId.ENQUIRE_LINK, 5, 2)
    assert decode(request_with_status) == EnquireLink(sequence=2)
    assert decode(header(18, CommandId.ENQUIRE_LINK, 0, 2) + b"xx") == EnquireLink(sequence=2)


# ----------------------------------------------------------------- encoder limits


@pytest.mark.parametrize(
    "pdu",
    [
        SubmitSm(source_addr="1" * 21),
        SubmitSm(short_message=bytes(255)),
        SubmitSm(service_type="CMT\0"),
        SubmitSm(destination_addr="\u20ac"),
        SubmitSm(validity_period="240101"),
        SubmitSm(esm_class=256),
        BindTransmitter(system_id="x" * 16),
        BindTransmitter(password="p" * 9),
        ReplaceSm(short_message=bytes(255)),
        SubmitMulti(dest_addresses=[DestAddress(1)] * 255),
        SubmitMulti(dest_addresses=[DestAddress(3)]),
        SubmitSmResp(message_id="m" * 65),
        SubmitSm(tlvs=[Tlv(0x0424, bytes(0x10000))]),
        SubmitMulti(dest_addresses=[DestAddress(1, destination_addr="1" * 20)] * 254,
                    tlvs=[Tlv(0x0424, bytes(0xFFFF)), Tlv(0x1400, bytes(0xFFFF))]),
    ],
)
def test_encoder_refuses_what_the_spec_forbids(pdu: object) -> None:
    with pytest.raises(LocalProtocolError):
        encode(pdu)  # type: ignore[arg-type]


# ------------------------------------------------------------ hypothesis: every PDU


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_round_trip_every_pdu(cls: type, data: st.DataObject) -> None:
    pdu = data.draw(pdu_of(cls))
    frame = encode(pdu)
    decoded = decode(frame)
    assert decoded == pdu
    assert encode(decoded) == frame
    parsed = PDU.parse(frame)  # the whole-PDU schema reads what we wrote
    assert (parsed.command_id, parsed.sequence) == (cls.command_id, pdu.sequence)


HOT = [SubmitSm, DeliverSm, SubmitSmResp, DeliverSmResp]


def _schema_frame(pdu: object) -> bytes:
    body = schema_encode(pdu)  # type: ignore[arg-type]
    status = getattr(pdu, "status", 0)
    return header(16 + len(body), pdu.command_id, status, pdu.sequence) + body  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
@given(data=st.data())
def test_hot_path_agrees_with_schema(cls: type, data: st.DataObject) -> None:
    pdu = data.draw(pdu_of(cls))
    if getattr(pdu, "status", 0) and not pdu.tlvs and cls is SubmitSmResp:  # type: ignore[attr-defined]
        pdu.message_id = "x"  # type: ignore[attr-defined]  # keep a body to compare
        pdu.tlvs.append(Tlv(1, b""))  # type: ignore[attr-defined]
    frame = encode(pdu)
    assert frame == _schema_frame(pdu)
    assert decode(frame) == schema_decode(frame, cls.command_id, getattr(pdu, "status", 0), pdu.sequence)


def _both(frame: bytes) -> tuple[object, object]:
    out = []
    _, command_id, status, sequence = struct.unpack_from(">IIII", frame)
    for fn in (decode, lambda f: schema_decode(f, command_id, status, sequence)):
        try:
            out.append(fn(frame))
        except RemoteProtocolError as exc:
            out.append(("error", exc.status))
    return out[0], out[1]


@pytest.mark.parametrize("cls", [SubmitSm, DeliverSm, SubmitSmResp], ids=lambda c: c.__name__)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hot_path_and_schema_fail_alike_on_mutations(cls: type, data: st.DataObject) -> None:
    pdu = data.draw(pdu_of(cls))
    frame = bytearray(encode(pdu))
    if len(frame) == 16:
        return
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "extend"]))
        if kind == "flip" and len(frame) > 16:
            at = data.draw(st.integers(16, len(frame) - 1))
            frame[at] = data.draw(st.integers(0, 255))
        elif kind == "cut" and len(frame) > 17:
            del frame[data.draw(st.integers(17, len(frame) - 1)):]
        else:
            frame += data.draw(st.binary(min_size=1, max_size=8))
    frame[0:4] = struct.pack(">I", len(frame))
    hot, schema = _both(bytes(frame))
    assert hot == schema


# ------------------------------------------------------------------------- fuzzing


def _decode_only_remote_errors(frame: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode(frame)


@given(st.binary(max_size=300))
@example(b"")
@example(header(16, 0, 0, 0))
def test_fuzz_random_bytes(frame: bytes) -> None:
    _decode_only_remote_errors(frame)


@given(command_id=st.sampled_from([*sorted(c.command_id for c in ALL_CLASSES), 273, 2147483921]),
       status=st.integers(0, 0xFFFFFFFF), sequence=st.integers(0, 0xFFFFFFFF),
       body=st.binary(max_size=200))
def test_fuzz_well_framed_random_bodies(command_id: int, status: int, sequence: int, body: bytes) -> None:
    _decode_only_remote_errors(header(16 + len(body), command_id, status, sequence) + body)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_mutated_valid_pdus(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(ALL_CLASSES))
    frame = bytearray(encode(data.draw(pdu_of(cls))))
    kind = data.draw(st.sampled_from(["truncate", "flip", "length"]))
    if kind == "truncate":
        frame = frame[: data.draw(st.integers(0, len(frame)))]
    elif kind == "flip":
        at = data.draw(st.integers(0, len(frame) - 1))
        frame[at] ^= data.draw(st.integers(1, 255))
    else:
        frame[0:4] = struct.pack(">I", data.draw(st.integers(0, 0xFFFFFFFF)))
    _decode_only_remote_errors(bytes(frame))
