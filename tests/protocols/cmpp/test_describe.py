"""describe(): every field, Msg_Id parts, content per Msg_Fmt, UDH, reports."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.cmpp import (
    ConnectResp,
    Deliver,
    Report,
    Submit,
    SubmitResp,
    describe,
    encode_report,
)

from .strategies import pdus


@pytest.mark.parametrize("layout", [2, 3])
@given(data=st.data())
def test_every_pdu_describes_to_json(layout: int, data: st.DataObject) -> None:
    pdu = data.draw(pdus(layout))
    out = describe(pdu, layout)
    json.dumps(out)
    assert out["sequence"] == pdu.sequence and out["protocol"] == f"CMPP {layout}.0"


def test_msg_id_parts() -> None:
    out = describe(SubmitResp(1, msg_id=0x3080000003E90001, result=8))
    assert out["msg_id"] == {
        "int": 3494793310905106433, "hex": "3080000003E90001", "month": 3, "day": 1, "hour": 0,
        "minute": 0, "second": 0, "gateway": "001001", "sequence": 1,
    }
    assert out["status_name"] == "FLOW_CONTROL" and out["status_description"] == "flow control error"


@pytest.mark.parametrize(
    ("fmt", "content", "text"),
    [
        (0, b"hello", "hello"),
        (8, "你好".encode("utf-16-be"), "你好"),
        (15, "你好".encode("gb18030"), "你好"),
        (4, b"\x01\x02", None),
    ],
)
def test_content_by_msg_fmt(fmt: int, content: bytes, text: str | None) -> None:
    out = describe(Submit(msg_fmt=fmt, msg_content=content))["msg_content"]
    assert out["hex"] == content.hex() and out.get("text") == text


@pytest.mark.parametrize("udhi", [1, 0x40])
def test_udh_parsed(udhi: int) -> None:
    content = bytes.fromhex("050003A70201") + "第一".encode("utf-16-be")
    out = describe(Deliver(tp_udhi=udhi, msg_fmt=8, msg_content=content))["msg_content"]
    assert out["udh"]["concat"] == {"reference": 0xA7, "total": 2, "index": 1}
    assert out["text"] == "第一"
    broken = describe(Deliver(tp_udhi=1, msg_content=b"\x09\x00"))["msg_content"]
    assert "udh_error" in broken


def test_report_shown_parsed() -> None:
    content = encode_report(Report(0x3080000003E90001, "DELIVRD", "2403010000", "2403010001", "8613800138000", 9))
    out = describe(Deliver(registered_delivery=1, msg_content=content), 3)["msg_content"]["report"]
    assert out["stat"] == "DELIVRD" and out["msg_id"]["gateway"] == "001001"
    assert out["layout_mismatch"] is False and out["smsc_sequence"] == 9
    bad = describe(Deliver(registered_delivery=1, msg_content=b"short"))["msg_content"]
    assert "report_error" in bad


def test_version_specific_fields() -> None:
    v2 = describe(Submit(), 2)
    v3 = describe(Submit(), 3)
    assert "reserve" in v2 and "link_id" not in v2 and "fee_terminal_type" not in v2
    assert "link_id" in v3 and "reserve" not in v3 and "dest_terminal_type" in v3
    resp = describe(ConnectResp(status=3, version=0x30), 3)
    assert resp["status_name"] == "AUTHENTICATION_ERROR" and resp["version"]["text"] == "3.0"
