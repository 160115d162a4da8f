"""SMPP receipt text (PROTOCOLS.md A.13, E.3, E.5)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.receipts import (
    STAT_BY_STATE,
    Receipt,
    ReceiptError,
    _parse_lenient,
    format_smpp_receipt,
    is_final,
    parse_smpp_receipt,
    receipt_datetime,
)

SPEC = ("id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm "
        "stat:DDDDDDD err:E Text: . . . . . . . . .")
TYPICAL = ("id:0123456789 sub:001 dlvrd:001 submit date:2401311530 done date:2401311531 "
           "stat:DELIVRD err:000 text:Hello world: a test")


def test_spec_template() -> None:
    assert parse_smpp_receipt(SPEC) == Receipt(
        id="IIIIIIIIII", sub="SSS", dlvrd="DDD", submit_date="YYMMDDhhmm", done_date="YYMMDDhhmm",
        stat="DDDDDDD", err="E", text=" . . . . . . . . .")


def test_typical() -> None:
    r = parse_smpp_receipt(TYPICAL.encode() + b"\x00")
    assert r == Receipt(id="0123456789", sub="001", dlvrd="001", submit_date="2401311530",
                        done_date="2401311531", stat="DELIVRD", err="000", text="Hello world: a test")
    assert r.final
    assert r.submitted_at == datetime(2024, 1, 31, 15, 30)
    assert r.done_at == datetime(2024, 1, 31, 15, 31)


@pytest.mark.parametrize(("text", "fields"), [
    # label case (E.5), cloudhopper/Kannel variants
    ("ID:abc SUB:001 DLVRD:001 SUBMIT DATE:2401311530 DONE DATE:2401311531 STAT:delivrd ERR:0 TEXT:x",
     {"id": "abc", "stat": "DELIVRD", "err": "0", "text": "x", "submit_date": "2401311530"}),
    ("id:abc Submit date:240131153000 Done date:20240131153100 stat:UNDELIV err:1 Text:",
     {"submit_date": "240131153000", "done_date": "20240131153100", "text": None, "sub": None}),
    # any order, missing fields
    ("stat:EXPIRED id:77", {"id": "77", "stat": "EXPIRED", "sub": None, "dlvrd": None, "err": None}),
    ("err:12345 stat:REJECTD id:A1B2C3D4-0000", {"err": "12345", "id": "A1B2C3D4-0000"}),
    # underscores or nothing for the two-word labels, spaces after the colon
    ("id: 42 submit_date:2401311530 donedate:2401311531 stat: ENROUTE",
     {"id": "42", "submit_date": "2401311530", "done_date": "2401311531", "stat": "ENROUTE"}),
    # extra fields kept; text keeps colons and later "labels"
    ("id:1 sub:001 dlvrd:000 stat:UNDELIV err:034 mccmnc:20404 Network:foo text:err:1 stat:X",
     {"extra": {"mccmnc": "20404", "network": "foo"}, "text": "err:1 stat:X", "stat": "UNDELIV"}),
    # a label only counts at the start of a token: "x:y" inside a value is not a field
    ("id:abc:def stat:DELIVRD", {"id": "abc:def"}),
    # first occurrence wins
    ("id:1 id:2 stat:DELIVRD stat:UNDELIV", {"id": "1", "stat": "DELIVRD"}),
    # 64-character id; an empty value counts as missing
    ("id:" + "f" * 64 + " sub: dlvrd: stat:DELIVRD", {"id": "f" * 64, "sub": None, "dlvrd": None}),
    # junk before the first label, tabs and newlines
    ("receipt\tid:9\nstat:DELETED\r\n", {"id": "9", "stat": "DELETED"}),
])
def test_variants(text: str, fields: dict[str, object]) -> None:
    receipt = parse_smpp_receipt(text)
    for name, value in fields.items():
        assert getattr(receipt, name) == value, name


@pytest.mark.parametrize("text", [
    "", "hello", "sub:001 stat:DELIVRD", "id:1 sub:001", "id: stat:DELIVRD", "id:1 stat:",
    "id:" + "f" * 65 + " stat:DELIVRD", "xid:1 stat:DELIVRD", "text:id:1 stat:DELIVRD",
])
def test_not_a_receipt(text: str) -> None:
    with pytest.raises(ReceiptError):
        parse_smpp_receipt(text)


@pytest.mark.parametrize(("value", "expected"), [
    ("2401311530", datetime(2024, 1, 31, 15, 30)),
    ("240131153059", datetime(2024, 1, 31, 15, 30, 59)),
    ("20240131153059", datetime(2024, 1, 31, 15, 30, 59)),
    ("2413311530", None), ("24013115", None), ("24O1311530", None), (None, None), ("２４01311530", None),
])
def test_receipt_datetime(value: str | None, expected: datetime | None) -> None:
    assert receipt_datetime(value) == expected


def test_is_final() -> None:
    for stat in ("ENROUTE", "acceptd", "BUFFRED", "BUFFERD", "ACKED", " ACCEPTD "):
        assert not is_final(stat)
    for stat in ("DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD", "other"):
        assert is_final(stat)
    assert STAT_BY_STATE[2] == "DELIVRD" and not is_final(STAT_BY_STATE[1])


def test_format_appendix_b() -> None:
    text = format_smpp_receipt(
        "0123456789", "DELIVRD", submit_date=datetime(2024, 1, 31, 15, 30),
        done_date=datetime(2024, 1, 31, 15, 31), text="Hello world: a test that is long")
    assert text == ("id:0123456789 sub:001 dlvrd:001 submit date:2401311530 done date:2401311531 "
                    "stat:DELIVRD err:000 text:Hello world: a test ")
    odd = format_smpp_receipt("ab", "UNDELIV", submit_date="240131153000", done_date="240131153100",
                              sub="1", err="E", extra={"mccmnc": "20404"})
    assert odd == ("id:ab sub:1 dlvrd:000 submit date:240131153000 done date:240131153100 "
                   "stat:UNDELIV err:E mccmnc:20404 text:")


_token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=14)


@given(
    id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_categories=("Zs", "Cc")),
               min_size=1, max_size=64),
    stat=st.sampled_from(["DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN",
                          "REJECTD", "ENROUTE"]),
    sub=st.integers(0, 999) | _digits, dlvrd=st.integers(0, 999) | _digits,
    err=st.integers(0, 999) | _token,
    submit=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)) | _digits,
    done=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)) | _digits,
    text=st.text(max_size=25).filter(lambda t: "\x00" not in t),
    extra=st.dictionaries(st.sampled_from(["mccmnc", "network", "cost", "smsc"]), _token, max_size=3),
)
def test_format_parse_round_trip(
    id: str, stat: str, sub: int | str, dlvrd: int | str, err: int | str,
    submit: datetime | str, done: datetime | str, text: str, extra: dict[str, str],
) -> None:
    formatted = format_smpp_receipt(id, stat, submit_date=submit, done_date=done, sub=sub,
                                    dlvrd=dlvrd, err=err, text=text, extra=extra)
    r = parse_smpp_receipt(formatted)
    assert (r.id, r.stat, r.extra) == (id, stat, extra)
    assert r.sub == (f"{sub:03d}" if isinstance(sub, int) else sub)
    assert r.dlvrd == (f"{dlvrd:03d}" if isinstance(dlvrd, int) else dlvrd)
    assert r.err == (f"{err:03d}" if isinstance(err, int) else err)
    if isinstance(submit, datetime):
        assert r.submitted_at == submit.replace(second=0, microsecond=0)
    else:
        assert r.submit_date == submit
    assert r.text == (text[:20] or None)


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_fuzz(data: bytes | str) -> None:
    try:
        r = parse_smpp_receipt(data)
    except ReceiptError:
        return
    assert r.id and r.stat and len(r.id) <= 64 and not any(c.isspace() for c in r.id)


@given(st.lists(st.sampled_from(["id:1", "stat:DELIVRD", "sub:001", "dlvrd:001", "err:0",
                                 "submit date:2401311530", "Done Date:2401311531", "x:y"]),
                min_size=2, max_size=8, unique=True).filter(lambda f: "id:1" in f and "stat:DELIVRD" in f))
def test_any_field_order(fields: list[str]) -> None:
    r = parse_smpp_receipt(" ".join(fields))
    assert (r.id, r.stat) == ("1", "DELIVRD")
    assert r.done_date == ("2401311531" if "Done Date:2401311531" in fields else None)


_value = st.text(st.characters(min_codepoint=0x00, max_codepoint=0xFF), max_size=6) | _token | st.just("")


@given(id=_value, sub=_value, dlvrd=_value, submit=_value | _digits, done=_value | _digits,
       stat=_value | st.just("delivrd"), err=_value, text=st.text(max_size=25),
       sep=st.sampled_from([" ", "  ", "\t"]))
def test_the_appendix_b_fast_path_reads_what_the_label_scan_reads(
    id: str, sub: str, dlvrd: str, submit: str, done: str, stat: str, err: str, text: str, sep: str,
) -> None:
    formatted = sep.join([f"id:{id}", f"sub:{sub}", f"dlvrd:{dlvrd}", f"submit date:{submit}",
                          f"done date:{done}", f"stat:{stat}", f"err:{err}", f"text:{text}"])
    try:
        expected: Receipt | str = _parse_lenient(formatted.rstrip("\x00"))
    except ReceiptError as exc:
        expected = str(exc)
    try:
        got: Receipt | str = parse_smpp_receipt(formatted)
    except ReceiptError as exc:
        got = str(exc)
    assert got == expected
