"""The D.7 status report (both label spellings, 10/12-digit dates, malformed input) and
the D.5 MsgID helpers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.smgp.msgid import (
    build_msg_id,
    msg_id_from_hex,
    msg_id_hex,
    msg_id_offset,
    parse_msg_id,
)
from protocols.smgp.report import Report, decode_report, encode_report, report_text

from .strategies import fixed

MSG_ID = bytes.fromhex("01006101161700012345")
DIGITS = st.text("0123456789", min_size=10, max_size=10)


def spec_report(**kw: str) -> Report:
    fields = {"stat": "DELIVRD", "err": "000", "submit_date": "0101161700",
              "done_date": "0101161705", "text": report_text(b"hello")}
    fields.update(kw)
    return Report(msg_id=MSG_ID, **fields)


@settings(max_examples=300)
@given(
    msg_id=st.binary(min_size=10, max_size=10),
    stat=st.sampled_from(["DELIVRD", "EXPIRED", "UNDELIV", "UNKNOWN", "REJECTD"]),
    err=st.text("0123456789", min_size=3, max_size=3),
    dates=st.tuples(DIGITS, DIGITS),
    text=fixed(20).map(lambda s: s.strip(" ")),
    lower=st.booleans(),
)
def test_report_round_trip(msg_id: bytes, stat: str, err: str, dates: tuple[str, str],
                           text: str, lower: bool) -> None:
    report = Report(msg_id=msg_id, stat=stat, err=err, submit_date=dates[0],
                    done_date=dates[1], text=text)
    raw = encode_report(report, lower_case=lower)
    assert len(raw) == 122
    assert decode_report(raw) == report


def test_label_case_conflict_both_spellings() -> None:
    spec = encode_report(spec_report())
    smsgate = encode_report(spec_report(), lower_case=True)
    assert b" Submit date:" in spec and b" Text:" in spec
    assert b" submit date:" in smsgate and b" text:" in smsgate
    assert decode_report(spec) == decode_report(smsgate) == spec_report()
    assert decode_report(spec.upper()[:3] + spec[3:].upper()).stat == "DELIVRD"


def test_twelve_digit_dates_are_accepted() -> None:
    raw = (b"id:" + MSG_ID + b" sub:001 dlvrd:001 Submit date:010331200000"
           b" done date:010331200100 stat:DELIVRD err:000 Text:005hello")
    report = decode_report(raw)
    assert (report.submit_date, report.done_date) == ("010331200000", "010331200100")
    assert report.text == "005hello" and report.delivered


def test_report_without_text_is_accepted() -> None:
    raw = b"id:" + MSG_ID + b" sub:001 dlvrd:001 submit date:0101161700 done date:0101161705 stat:EXPIRED err:001"
    report = decode_report(raw)
    assert (report.stat, report.err, report.text) == ("EXPIRED", "001", "")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"id:123",
        b"xx:" + MSG_ID + b" sub:001",
        b"id:" + MSG_ID + b" sub:001 dlvrd:001 stat:DELIVRD err:000",  # dates missing
        b"id:" + MSG_ID + b" sub:001 dlvrd:001 submit date:01011617 done date:0101161705"
        b" stat:DELIVRD err:000 text:",  # 8-digit date
        b"id:" + MSG_ID + b" sub:001 dlvrd:001 submit date:0101161700 done date:0101161705"
        b" stat: err:000 text:",  # empty stat
        b"id:" + MSG_ID + b"garbage sub:001 dlvrd:001 submit date:0101161700 done date:0101161705"
        b" stat:DELIVRD err:000 text:",
    ],
)
def test_malformed_reports_raise_remote_error(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_report(raw)
    assert info.value.status == 10


@settings(max_examples=500)
@given(st.data())
def test_report_decoder_raises_only_remote_error(data: st.DataObject) -> None:
    raw = bytearray(encode_report(spec_report()))
    for _ in range(data.draw(st.integers(0, 4))):
        raw[data.draw(st.integers(0, 121))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, 122))] + data.draw(st.binary(max_size=8))
    with contextlib.suppress(RemoteProtocolError):
        decode_report(bytes(raw))


def test_encode_report_rejects_oversized_fields() -> None:
    with pytest.raises(LocalProtocolError):
        encode_report(spec_report(stat="DELIVERED"))
    with pytest.raises(LocalProtocolError):
        encode_report(Report(msg_id=b"123", stat="DELIVRD"))


def test_report_text() -> None:
    assert report_text(b"x" * 30) == "030" + "x" * 17


# ------------------------------------------------------------------------------ MsgID


@given(st.text("0123456789", min_size=6, max_size=6), st.text("0123456789", min_size=8, max_size=8),
       st.integers(0, 999_999))
def test_msg_id_round_trip(gateway: str, time: str, sequence: int) -> None:
    raw = build_msg_id(gateway, time, sequence)
    assert len(raw) == 10
    assert msg_id_hex(raw) == f"{gateway}{time}{sequence:06d}"
    assert tuple(parse_msg_id(raw)) == (gateway, time, sequence)
    assert msg_id_from_hex(msg_id_hex(raw)) == raw


def test_msg_id_offset_wraps_the_sequence() -> None:
    assert msg_id_offset(MSG_ID, 2).hex() == "01006101161700012347"
    last = build_msg_id("010061", "01161700", 999_999)
    assert msg_id_offset(last, 1).hex() == "01006101161700000000"


@pytest.mark.parametrize(
    ("gateway", "time", "sequence"),
    [("01006", "01161700", 1), ("010061", "0116170", 1), ("010061", "01161700", 10**6),
     ("01006a", "01161700", 1), ("010061", "0116170٣", 1)],
)
def test_build_msg_id_rejects_bad_parts(gateway: str, time: str, sequence: int) -> None:
    with pytest.raises(LocalProtocolError):
        build_msg_id(gateway, time, sequence)


def test_parse_msg_id_rejects_non_bcd() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_msg_id(bytes.fromhex("0a006101161700012345"))
    with pytest.raises(RemoteProtocolError):
        parse_msg_id(b"short")
    with pytest.raises(LocalProtocolError):
        msg_id_from_hex("xyz")
