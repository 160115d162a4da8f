"""describe(): JSON-friendly, every field, ids split, content and reports decoded."""

from __future__ import annotations

import json

from hypothesis import given, settings

from protocols.smgp import (
    Deliver,
    Login,
    LoginResp,
    MsgFormat,
    Report,
    Submit,
    SubmitResp,
    describe,
    encode_report,
)
from protocols.tlv import Tlv

from .strategies import ANY_PDU

MSG_ID = bytes.fromhex("01006101161700012345")


@settings(max_examples=300)
@given(ANY_PDU)
def test_describe_any_pdu_is_json(pdu: object) -> None:
    out = describe(pdu)  # type: ignore[arg-type]
    json.dumps(out)
    assert out["sequence"] == pdu.sequence  # type: ignore[attr-defined]


def test_submit_resp_status_and_msg_id_parts() -> None:
    out = describe(SubmitResp(sequence=3, msg_id=MSG_ID, status=21))
    assert out["command"] == "SUBMIT_RESP" and out["command_id"] == "0x80000002"
    assert out["status_name"] == "AUTHENTICATION_ERROR"
    assert out["status_description"] == "authentication error"
    assert out["msg_id"] == {"hex": "01006101161700012345", "gateway": "010061",
                             "time": "01161700", "sequence": "012345"}


def test_non_bcd_msg_id_is_shown_with_an_error() -> None:
    out = describe(SubmitResp(msg_id=bytes.fromhex("ffffffffffffffffffff")))
    assert out["msg_id"]["hex"] == "f" * 20 and "error" in out["msg_id"]


def test_login_fields() -> None:
    out = describe(Login(client_id="12345678", login_mode=1, timestamp=301000000))
    assert out["login_mode_name"] == "RECEIVE"
    assert out["timestamp_text"] == "0301000000"
    assert out["client_version_text"] == "3.0"
    assert describe(LoginResp(status=22))["status_description"] == "version too high"


def test_submit_content_and_tlvs() -> None:
    pdu = Submit(msg_format=MsgFormat.UCS2, msg_content="你好".encode("utf-16-be"),
                 dest_term_ids=["13300000000"], tlvs=[Tlv(0x7777, b"\x01")])
    pdu.pk_total, pdu.link_id = 2, "L1"
    out = describe(pdu)
    assert out["msg_format_name"] == "UCS2"
    assert out["msg_content"]["text"] == "你好"
    assert out["msg_content"]["hex"] == "4f60597d"
    assert out["tlvs"][0] == {"tag": "0x7777", "name": None, "hex": "01"}
    assert out["tlvs"][1] == {"tag": "0x0009", "name": "PK_TOTAL", "hex": "02", "value": 2}
    assert out["tlvs"][2]["value"] == "L1"


def test_gb18030_and_binary_content() -> None:
    gb = describe(Submit(msg_format=15, msg_content="你好".encode("gb18030")))
    assert gb["msg_content"]["text"] == "你好"
    binary = describe(Submit(msg_format=4, msg_content=b"\x00\xff"))
    assert binary["msg_content"] == {"hex": "00ff", "length": 2, "text": None}


def test_udh_parsed_when_tp_udhi_set() -> None:
    pdu = Submit(msg_format=0, msg_content=bytes.fromhex("0500033f0201") + b"hello")
    pdu.tp_udhi = 1
    out = describe(pdu)["msg_content"]
    assert out["udh"] is not None
    assert out["text"] == "hello"


def test_report_parsed_when_is_report() -> None:
    report = Report(msg_id=MSG_ID, stat="UNDELIV", err="005", submit_date="0101161700",
                    done_date="0101161705", text="002hi")
    out = describe(Deliver(is_report=1, msg_content=encode_report(report)))["msg_content"]
    assert out["report"]["msg_id"]["sequence"] == "012345"
    assert out["report"]["stat"] == "UNDELIV"
    assert out["report"]["err_description"] == "user blacklisted"
    bad = describe(Deliver(is_report=1, msg_content=b"not a report"))["msg_content"]
    assert "report_error" in bad


def test_malformed_udh_is_reported_not_raised() -> None:
    from protocols.smgp import Submit, describe

    pdu = Submit(msg_content=b"\x05\x00\x03\x01", dest_term_ids=["13300000000"])
    pdu.tp_udhi = 1
    out = describe(pdu)
    assert "udh_error" in out["msg_content"] or "udh_error" in str(out)
