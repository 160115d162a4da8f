"""PROTOCOLS.md section C test vectors and sizes, byte for byte."""

from __future__ import annotations

import pytest

from protocols.cmpp import (
    ActiveTest,
    ActiveTestResp,
    CancelResp,
    Connect,
    ConnectResp,
    Deliver,
    DeliverResp,
    MsgId,
    Report,
    Submit,
    SubmitResp,
    Terminate,
    TerminateResp,
    authenticator_ismg,
    authenticator_source,
    decode,
    encode,
    encode_report,
    make_msg_id,
)

AUTH_SOURCE = bytes.fromhex("031c6faf8dfd92fde7ce5cf38bf28aa0")


def test_timestamp_example() -> None:
    # C.3: March 1 00:00:00 -> 0301000000 -> 301000000 = 0x11F0E540
    assert 301000000 == 0x11F0E540
    frame = encode(Connect(timestamp=301000000))
    assert frame[-4:] == bytes.fromhex("11F0E540")


def test_authenticator_source_vector() -> None:
    assert authenticator_source("901234", "secret", 301000000) == AUTH_SOURCE
    assert authenticator_source("901234", b"secret", 301000000, padded=False) == AUTH_SOURCE


@pytest.mark.parametrize(
    ("version", "expected"),
    [(3, "19708895a4551d24bcc11b87f019110d"), (2, "f12a6d1810d72e38c6fab869a447595a")],
)
def test_authenticator_ismg_vectors(version: int, expected: str) -> None:
    assert authenticator_ismg(0, AUTH_SOURCE, "secret", version).hex() == expected


def test_connect_frame_byte_for_byte() -> None:
    pdu = Connect(sequence=1, source_addr="901234", authenticator_source=AUTH_SOURCE,
                  version=0x30, timestamp=301000000)
    expected = (
        bytes.fromhex("00000027" "00000001" "00000001")
        + b"901234" + AUTH_SOURCE + b"\x30" + bytes.fromhex("11F0E540")
    )
    for version in (2, 3):  # C.3: same in both versions, Total_Length 39
        assert encode(pdu, version) == expected
        assert decode(expected, version) == pdu


def test_connect_resp_frames() -> None:
    auth3 = bytes.fromhex("19708895a4551d24bcc11b87f019110d")
    v3 = encode(ConnectResp(sequence=1, status=0, authenticator_ismg=auth3, version=0x30), 3)
    assert v3 == bytes.fromhex("00000021" "80000001" "00000001" "00000000") + auth3 + b"\x30"
    auth2 = bytes.fromhex("f12a6d1810d72e38c6fab869a447595a")
    v2 = encode(ConnectResp(sequence=1, status=0, authenticator_ismg=auth2, version=0x20), 2)
    assert v2 == bytes.fromhex("0000001E" "80000001" "00000001" "00") + auth2 + b"\x20"


def test_msg_id_example() -> None:
    # C.12: 03-01 00:00:00, gateway 1001, sequence 1
    value = 0x3080000003E90001
    assert value == 3494793310905106433
    assert MsgId(3, 1, 0, 0, 0, 1001, 1).to_int() == value
    assert MsgId.from_int(value) == MsgId(3, 1, 0, 0, 0, 1001, 1)
    assert MsgId.from_int(value).to_bytes() == bytes.fromhex("3080000003E90001")
    assert MsgId.from_int(value).gateway_code == "001001"
    assert make_msg_id((3, 1, 0, 0, 0), "001001", 1) == value
    assert make_msg_id((3, 1, 0, 0, 0), 1001, 0x10001) == value  # sequence wraps at 16 bits
    # E.2: big-endian on the wire, in SUBMIT_RESP and in the report
    assert encode(SubmitResp(msg_id=value))[12:20] == bytes.fromhex("3080000003E90001")
    assert encode_report(Report(msg_id=value))[:8] == bytes.fromhex("3080000003E90001")


@pytest.mark.parametrize(
    ("pdu", "v2", "v3"),
    [
        (ConnectResp(), 30, 33),
        (SubmitResp(), 21, 24),
        (DeliverResp(), 21, 24),
        (CancelResp(), 13, 16),
        (Terminate(), 12, 12),
        (TerminateResp(), 12, 12),
        (ActiveTest(), 12, 12),
        (ActiveTestResp(), 13, 13),
        (Connect(), 39, 39),
    ],
)
def test_total_lengths(pdu: object, v2: int, v3: int) -> None:
    assert len(encode(pdu, 2)) == v2  # type: ignore[arg-type]
    assert len(encode(pdu, 3)) == v3  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("length", [0, 7, 140])
def test_submit_and_deliver_body_sizes(n: int, length: int) -> None:
    submit = Submit(dest_terminal_ids=["1"] * n, msg_content=bytes(length))
    assert len(encode(submit, 2)) - 12 == 126 + 21 * n + length
    assert len(encode(submit, 3)) - 12 == 151 + 32 * n + length
    deliver = Deliver(msg_content=bytes(length))
    assert len(encode(deliver, 2)) - 12 == 73 + length
    assert len(encode(deliver, 3)) - 12 == 97 + length


def test_report_sizes() -> None:
    assert len(encode_report(Report(), 2)) == 60
    assert len(encode_report(Report(), 3)) == 71


def test_submit_v3_field_offsets() -> None:
    """Dest_terminal_type follows all destinations; LinkID ends the body (C.6)."""
    frame = encode(Submit(dest_terminal_ids=["8613800138000", "8613900139000"], dest_terminal_type=1,
                          msg_content=b"hi", link_id="LINK", fee_terminal_type=1), 3)
    body = frame[12:]
    assert body[55] == 1  # Fee_terminal_type after the 32-octet Fee_terminal_Id
    assert body[128] == 2  # DestUsr_tl
    assert body[129:161] == b"8613800138000".ljust(32, b"\0")
    assert body[161:193] == b"8613900139000".ljust(32, b"\0")
    assert body[193] == 1 and body[194] == 2 and body[195:197] == b"hi"
    assert body[197:] == b"LINK".ljust(20, b"\0")
