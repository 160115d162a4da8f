"""describe(): the CLI rendering of SMPP PDUs, and the small helpers the daemon uses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from protocols.smpp import (
    DataSm,
    DeliverSm,
    GenericNack,
    Status,
    SubmitSm,
    SubmitSmResp,
    Tag,
    describe,
    has_udh,
    is_receipt,
    make_tlv,
    tlv_value,
    user_data,
)
from protocols.tlv import Tlv

from .strategies import any_pdu


def test_submit_sm_with_udh_and_tlvs() -> None:
    pdu = SubmitSm(
        sequence=9, source_addr_ton=5, source_addr="SENDER", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr="4915", esm_class=0x43, registered_delivery=0x11, data_coding=8,
        short_message=bytes.fromhex("050003A70201") + "hé".encode("utf-16-be"),
        tlvs=[Tlv(Tag.USER_MESSAGE_REFERENCE, b"\x00\x07"), Tlv(0x1401, b"\xff")],
    )
    out = describe(pdu)
    assert out["command"] == "submit_sm" and out["sequence"] == 9 and "status" not in out
    assert out["esm_class"] == {"value": 0x43, "mode": "store and forward", "type": "normal message",
                                "udhi": True, "reply_path": False}
    assert out["registered_delivery"]["smsc_receipt"] == "SMSC delivery receipt on success or failure"
    assert out["registered_delivery"]["intermediate_notification"] is True
    assert out["data_coding"] == {"value": 8, "name": "ucs2"}
    assert out["source_addr_ton"] == {"value": 5, "name": "alphanumeric"}
    sm = out["short_message"]
    assert sm["udh"]["concat"] == {"reference": 0xA7, "total": 2, "index": 1}
    assert sm["text"] == "hé" and sm["hex"].startswith("050003a7")
    assert out["tlvs"] == [
        {"tag": "0x0204", "name": "user_message_reference", "value": 7},
        {"tag": "0x1401", "name": "vendor_0x1401", "value": "ff"},
    ]
    for field in ("service_type", "protocol_id", "priority_flag", "schedule_delivery_time",
                  "validity_period", "replace_if_present_flag", "sm_default_msg_id"):
        assert field in out
    json.dumps(out)


@pytest.mark.parametrize(
    ("data_coding", "data", "text"),
    [
        (0, bytes([0x48, 0x00, 0x11, 0x1B, 0x65]), "H@_€"),
        (1, b"plain", "plain"),
        (3, "café".encode("latin-1"), "café"),
        (8, "Привет".encode("utf-16-be"), "Привет"),
        (0xF0, b"Hi", "Hi"),
        (4, b"\x01\x02", None),
        (2, b"\x01\x02", None),
    ],
)
def test_short_message_decoded_per_data_coding(data_coding: int, data: bytes, text: str | None) -> None:
    sm = describe(SubmitSm(data_coding=data_coding, short_message=data))["short_message"]
    assert sm["hex"] == data.hex()
    assert sm.get("text") == text


def test_receipt_deliver_sm() -> None:
    pdu = DeliverSm(esm_class=0x04, short_message=b"id:abc stat:DELIVRD",
                    tlvs=[Tlv(Tag.RECEIPTED_MESSAGE_ID, b"abc\0"), Tlv(Tag.MESSAGE_STATE, b"\x02"),
                          Tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00\x2a")])
    out = describe(pdu)
    assert out["is_receipt"] is True and out["esm_class"]["type"] == "SMSC delivery receipt"
    assert out["tlvs"][0]["value"] == "abc"
    assert out["tlvs"][1] == {"tag": "0x0427", "name": "message_state", "value": 2, "state": "DELIVERED"}
    assert out["tlvs"][2]["value"] == {"network_type": 3, "error_code": 42}
    assert is_receipt(pdu) and not has_udh(pdu)


def test_responses_show_status_name_and_description() -> None:
    out = describe(SubmitSmResp(sequence=3, status=Status.ESME_RTHROTTLED))
    assert out["status"] == {"code": 0x58, "name": "ESME_RTHROTTLED",
                             "description": "throttling error (ESME exceeded allowed message rate)"}
    assert describe(GenericNack(status=0x400))["status"]["name"] == "STATUS_0x00000400"
    assert "vendor" in describe(GenericNack(status=0x400))["status"]["description"]


def test_message_payload_is_decoded_like_short_message() -> None:
    out = describe(DataSm(data_coding=3, tlvs=[Tlv(Tag.MESSAGE_PAYLOAD, "é".encode("latin-1"))]))
    assert out["tlvs"][0]["value"]["text"] == "é"


@given(any_pdu)
def test_describe_never_raises_and_is_json(pdu: object) -> None:
    json.dumps(describe(pdu))  # type: ignore[arg-type]


def test_helpers() -> None:
    assert is_receipt(DeliverSm(esm_class=0x44)) and not is_receipt(DeliverSm(esm_class=0x08))
    assert has_udh(SubmitSm(esm_class=0x40)) and not has_udh(SubmitSm(esm_class=0x80))
    assert user_data(SubmitSm(short_message=b"a")) == b"a"
    assert user_data(SubmitSm(tlvs=[Tlv(Tag.MESSAGE_PAYLOAD, b"long")])) == b"long"
    assert user_data(SubmitSm()) == b""
    for tag, value in [(Tag.SAR_MSG_REF_NUM, 258), (Tag.SAR_TOTAL_SEGMENTS, 3),
                       (Tag.QOS_TIME_TO_LIVE, 3600), (Tag.RECEIPTED_MESSAGE_ID, "x1"),
                       (Tag.NETWORK_ERROR_CODE, (3, 42)), (Tag.ALERT_ON_MESSAGE_DELIVERY, None),
                       (Tag.MESSAGE_PAYLOAD, b"\x00\x01")]:
        assert tlv_value(make_tlv(tag, value)) == value
    assert make_tlv(Tag.SAR_MSG_REF_NUM, 258) == Tlv(0x020C, b"\x01\x02")
    assert tlv_value(Tlv(Tag.SAR_MSG_REF_NUM, b"\x01")) == b"\x01"  # wrong size stays raw


def test_make_tlv_refuses_values_that_do_not_fit() -> None:
    from protocols.errors import LocalProtocolError

    for tag, value in [(Tag.SAR_TOTAL_SEGMENTS, 256), (Tag.SAR_MSG_REF_NUM, "x"),
                       (Tag.RECEIPTED_MESSAGE_ID, "\u20ac")]:
        with pytest.raises(LocalProtocolError):
            make_tlv(tag, value)
