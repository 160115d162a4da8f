"""PROTOCOLS.md D test vectors and frames written by hand from the field tables (there is
no Wireshark SMGP dissector, so these hand-built bytes are the independent check)."""

from __future__ import annotations

from protocols.smgp import (
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginMode,
    LoginResp,
    MsgFormat,
    Query,
    Report,
    Submit,
    SubmitResp,
    authenticator_client,
    authenticator_server,
    build_msg_id,
    decode,
    decode_report,
    encode,
    encode_report,
    login_timestamp,
    parse_msg_id,
)
from protocols.smgp.schema import build as schema_build
from protocols.tlv import Tlv


def h(*fields: str) -> bytes:
    return bytes.fromhex("".join(fields))


def ascii_hex(text: str, size: int) -> str:
    return text.encode("ascii").ljust(size, b"\0").hex()


def check(pdu: object, frame: bytes) -> None:
    assert encode(pdu) == frame  # type: ignore[arg-type]
    assert schema_build(pdu) == frame  # type: ignore[arg-type]
    assert decode(frame) == pdu


# --------------------------------------------------------------------- D.3 login vectors

AUTH_CLIENT = bytes.fromhex("95898c46dedbcf393dcd4c2a861481e9")
AUTH_SERVER = bytes.fromhex("778071b4bb5722eda0905422b00fb6a8")


def test_authenticator_client_vector() -> None:
    assert authenticator_client("12345678", "secret", 301000000) == AUTH_CLIENT


def test_authenticator_server_vector() -> None:
    assert authenticator_server(0, AUTH_CLIENT, "secret") == AUTH_SERVER


def test_timestamp_vector() -> None:
    assert login_timestamp(3, 1, 0, 0, 0) == 301000000 == 0x11F0E540


def test_login_frame() -> None:
    frame = h(
        "0000002a",  # PacketLength 42
        "00000001",  # RequestID Login
        "00000001",  # SequenceID
        "3132333435363738",  # ClientID "12345678"
        "95898c46dedbcf393dcd4c2a861481e9",  # AuthenticatorClient
        "02",  # LoginMode 2 transmit
        "11f0e540",  # TimeStamp 0301000000
        "30",  # ClientVersion 3.0
    )
    check(Login(sequence=1, client_id="12345678", authenticator_client=AUTH_CLIENT,
                login_mode=LoginMode.TRANSMIT, timestamp=301000000, client_version=0x30), frame)


def test_login_resp_frame() -> None:
    frame = h(
        "00000021",  # PacketLength 33
        "80000001",  # Login_Resp
        "00000001",  # SequenceID
        "00000000",  # Status 0
        "778071b4bb5722eda0905422b00fb6a8",  # AuthenticatorServer
        "30",  # ServerVersion
    )
    check(LoginResp(sequence=1, status=0, authenticator_server=AUTH_SERVER, server_version=0x30), frame)


# ------------------------------------------------------------------------ D.5 MsgID

SPEC_MSG_ID = bytes.fromhex("01 00 61 01 16 17 00 01 23 45")


def test_msg_id_spec_example() -> None:
    assert build_msg_id("010061", "01161700", 12345) == SPEC_MSG_ID
    assert SPEC_MSG_ID.hex() == "01006101161700012345"
    parts = parse_msg_id(SPEC_MSG_ID)
    assert (parts.gateway, parts.time, parts.sequence) == ("010061", "01161700", 12345)


def test_submit_resp_frame() -> None:
    frame = h(
        "0000001a",  # PacketLength 26
        "80000002",  # Submit_Resp
        "00000009",  # SequenceID
        "01006101161700012345",  # MsgID (10 octets BCD)
        "00000000",  # Status 0
    )
    check(SubmitResp(sequence=9, msg_id=SPEC_MSG_ID, status=0), frame)


def test_deliver_resp_frame() -> None:
    frame = h("0000001a", "80000003", "fffffffe", "01006101161700012345", "0000000a")
    check(DeliverResp(sequence=0xFFFFFFFE, msg_id=SPEC_MSG_ID, status=10), frame)


# -------------------------------------------------------------------------- D.4 Submit

NIHAO_GB18030 = "c4e3bac3"  # 你好


def test_submit_frame_by_hand() -> None:
    frame = h(
        "000000c8",  # PacketLength 200 = 12 + 114 + 2*21 + 4 + 28
        "00000002",  # RequestID Submit
        "00000007",  # SequenceID
        "06",  # MsgType 6 MT
        "01",  # NeedReport yes
        "03",  # Priority 3 high
        ascii_hex("HELP", 10),  # ServiceID
        "3031",  # FeeType "01" per message
        ascii_hex("000010", 6),  # FeeCode 10 fen
        ascii_hex("", 6),  # FixedFee empty
        "0f",  # MsgFormat 15 GB18030
        ascii_hex("", 17),  # ValidTime empty
        ascii_hex("", 17),  # AtTime empty
        ascii_hex("1189123", 21),  # SrcTermID
        ascii_hex("", 21),  # ChargeTermID empty
        "02",  # DestTermIDCount
        ascii_hex("13300000000", 21),  # DestTermID 1
        ascii_hex("13300000001", 21),  # DestTermID 2
        "04",  # MsgLength
        NIHAO_GB18030,  # MsgContent
        "0000000000000000",  # Reserve
        "0009" "0001" "02",  # TLV PkTotal = 2
        "000a" "0001" "01",  # TLV PkNumber = 1
        "0010" "0008" "3132333435363738",  # TLV MsgSrc "12345678"
        "1234" "0002" "abcd",  # unknown TLV, preserved
    )
    pdu = Submit(
        sequence=7, msg_type=6, need_report=1, priority=3, service_id="HELP", fee_type="01",
        fee_code="000010", msg_format=MsgFormat.GB18030, src_term_id="1189123",
        dest_term_ids=["13300000000", "13300000001"], msg_content=bytes.fromhex(NIHAO_GB18030),
    )
    pdu.pk_total = 2
    pdu.pk_number = 1
    pdu.msg_src = "12345678"
    pdu.tlvs.append(Tlv(0x1234, b"\xab\xcd"))
    check(pdu, frame)
    got = decode(frame)
    assert isinstance(got, Submit)
    assert (got.pk_total, got.pk_number, got.msg_src, got.link_id) == (2, 1, "12345678", None)


# ----------------------------------------------------------------- D.6/D.7 Deliver report

REPORT_HEX = (
    "69643a"  # "id:"
    "01006101161700012345"  # raw 10-octet MsgID of the Submit
    "20" "7375623a" "303031"  # " sub:001"
    "20" "646c7672643a" "303031"  # " dlvrd:001"
    "20" "5375626d697420646174653a" "30313031313631373030"  # " Submit date:0101161700"
    "20" "646f6e6520646174653a" "30313031313631373035"  # " done date:0101161705"
    "20" "737461743a" "44454c49565244"  # " stat:DELIVRD"
    "20" "6572723a" "303030"  # " err:000"
    "20" "546578743a" "303034" "c4e3bac3" + "00" * 13  # " Text:" "004" 你好, padded to 20
)
REPORT = Report(
    msg_id=SPEC_MSG_ID, stat="DELIVRD", err="000", submit_date="0101161700",
    done_date="0101161705", sub="001", dlvrd="001", text="004\xc4\xe3\xba\xc3",
)


def test_report_by_hand() -> None:
    raw = bytes.fromhex(REPORT_HEX)
    assert len(raw) == 122
    assert encode_report(REPORT) == raw
    assert decode_report(raw) == REPORT


def test_deliver_report_frame_by_hand() -> None:
    frame = h(
        "000000d3",  # PacketLength 211 = 12 + 77 + 122
        "00000003",  # RequestID Deliver
        "0000002a",  # SequenceID
        "02006101161705000001",  # MsgID of this Deliver
        "01",  # IsReport
        "00",  # MsgFormat 0 (reports are ASCII)
        ascii_hex("20240116170512", 14),  # RecvTime
        ascii_hex("13300000000", 21),  # SrcTermID (the handset)
        ascii_hex("1189123", 21),  # DestTermID (the SP)
        "7a",  # MsgLength 122
        REPORT_HEX,  # MsgContent: the report
        "0000000000000000",  # Reserve
    )
    pdu = Deliver(
        sequence=42, msg_id=bytes.fromhex("02006101161705000001"), is_report=1, msg_format=0,
        recv_time="20240116170512", src_term_id="13300000000", dest_term_id="1189123",
        msg_content=encode_report(REPORT),
    )
    check(pdu, frame)
    assert decode_report(pdu.msg_content).msg_id == SPEC_MSG_ID


def test_deliver_mo_frame_with_tlvs() -> None:
    frame = h(
        "0000006b",  # PacketLength 107 = 12 + 77 + 4 + 14
        "00000003",  # Deliver
        "00000001",  # SequenceID
        "02006101161705000002",  # MsgID
        "00",  # IsReport 0
        "08",  # MsgFormat 8 UCS2
        ascii_hex("20240116170512", 14),  # RecvTime
        ascii_hex("13300000000", 21),  # SrcTermID
        ascii_hex("1189123", 21),  # DestTermID
        "04",  # MsgLength
        "4f60597d",  # 你好 in UCS-2
        "0000000000000000",  # Reserve
        "0003" "0006" "4c494e4b2d31",  # LinkID "LINK-1" (sent short: spec says 20)
        "0001" "0000",  # TP_pid with an empty value, preserved as is
    )
    pdu = decode(frame)
    assert isinstance(pdu, Deliver)
    assert pdu.link_id == "LINK-1"
    assert pdu.tp_pid is None
    assert encode(pdu) == frame


# ------------------------------------------------------------------- D.11 body-less PDUs


def test_bodyless_frames() -> None:
    check(ActiveTest(sequence=7), h("0000000c", "00000004", "00000007"))
    check(ActiveTestResp(sequence=7), h("0000000c", "80000004", "00000007"))
    check(Exit(sequence=8), h("0000000c", "00000006", "00000008"))
    check(ExitResp(sequence=8), h("0000000c", "80000006", "00000008"))


def test_query_frame() -> None:
    frame = h(
        "0000001f",  # PacketLength 31
        "00000007",  # Query
        "00000003",  # SequenceID
        ascii_hex("20240116", 8),  # QueryTime
        "00",  # QueryType 0 totals
        ascii_hex("", 10),  # QueryCode
    )
    check(Query(sequence=3, query_time="20240116", query_type=0), frame)
