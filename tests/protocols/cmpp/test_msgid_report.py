"""Msg_Id layout (C.12) and the status report inside DELIVER (C.9)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.cmpp import Deliver, MsgId, Report, decode_report, encode_report, make_msg_id, report_of
from protocols.errors import LocalProtocolError, RemoteProtocolError

from .strategies import text, u32, u64


@given(u64)
def test_msg_id_int_round_trip(value: int) -> None:
    assert MsgId.from_int(value).to_int() == value
    assert int.from_bytes(MsgId.from_int(value).to_bytes(), "big") == value


def test_msg_id_parts_and_generator() -> None:
    when = datetime.datetime(2024, 12, 31, 23, 59, 58)
    value = make_msg_id(when, "010001", 65535)
    assert MsgId.from_int(value) == MsgId(12, 31, 23, 59, 58, 10001, 65535)
    with pytest.raises(ValueError):
        MsgId(16, 1, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError):
        MsgId(1, 1, 0, 0, 0, 1 << 22, 0)
    with pytest.raises(ValueError):
        make_msg_id((1, 1, 0, 0, 0), "0x01", 0)
    with pytest.raises(ValueError):
        MsgId.from_int(-1)


@pytest.mark.parametrize("layout", [2, 3])
@given(data=st.data())
def test_report_round_trip(layout: int, data: st.DataObject) -> None:
    report = Report(
        data.draw(u64), data.draw(text(7)), data.draw(text(10)), data.draw(text(10)),
        data.draw(text(21 if layout == 2 else 32)), data.draw(u32), layout, False,
    )
    content = encode_report(report, layout)
    assert decode_report(content, layout) == report


def test_report_decoded_by_length_with_mismatch_flag() -> None:
    report = Report(0x3080000003E90001, "MA:0001", "2403010000", "2403010001", "8613800138000", 7)
    short = encode_report(report, 2)
    long = encode_report(report, 3)
    assert (len(short), len(long)) == (60, 71)
    in_v3 = decode_report(short, 3)  # GOCMPP-style 60 octets on a 3.0 link (CONFLICT 6)
    assert in_v3.layout == 2 and in_v3.layout_mismatch and in_v3.stat == "MA:0001"
    assert in_v3.stat_description == "SMSC gave no response (code 0001)"
    assert not decode_report(long, 3).layout_mismatch
    assert decode_report(long, 2).layout_mismatch
    assert decode_report(long, 3).dest_terminal_id == "8613800138000"


def test_bad_report_length_and_report_of() -> None:
    with pytest.raises(RemoteProtocolError, match=r"71 .* or 60") as info:
        decode_report(bytes(59), 3)
    assert info.value.status == 1
    assert report_of(Deliver(msg_content=b"hello")) is None
    delivered = Report(stat="DELIVRD")
    assert report_of(Deliver(registered_delivery=1, msg_content=encode_report(delivered))).delivered
    with pytest.raises(RemoteProtocolError) as info:
        report_of(Deliver(sequence=4, registered_delivery=1, msg_content=b"x"))
    assert info.value.sequence == 4


def test_report_encode_errors() -> None:
    with pytest.raises(LocalProtocolError, match="Stat"):
        encode_report(Report(stat="TOOLONGX"))
    with pytest.raises(LocalProtocolError, match="Dest_terminal_Id"):
        encode_report(Report(dest_terminal_id="1" * 22), 2)
    with pytest.raises(LocalProtocolError):
        encode_report(Report(smsc_sequence=-1))
