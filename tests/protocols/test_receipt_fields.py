"""``smpp_receipt_fields``, the daemon's fast read of a receipt text, against ``parse_smpp_receipt``."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from protocols.receipts import ReceiptError, format_smpp_receipt, parse_smpp_receipt, smpp_receipt_fields

TYPICAL = (b"id:0123456789 sub:001 dlvrd:001 submit date:2401311530 done date:2401311531 "
           b"stat:DELIVRD err:000 text:Hello world: a test")

_printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=70)
_any_latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=30)


def _expected(data: bytes) -> tuple[str, str, str | None] | str:
    try:
        receipt = parse_smpp_receipt(data)
    except ReceiptError as exc:
        return str(exc)
    return receipt.id, receipt.stat, receipt.err


def _actual(data: bytes) -> tuple[str, str, str | None] | str:
    try:
        return smpp_receipt_fields(data)
    except ReceiptError as exc:
        return str(exc)


def test_typical() -> None:
    assert smpp_receipt_fields(TYPICAL) == ("0123456789", "DELIVRD", "000")
    assert smpp_receipt_fields(TYPICAL + b"\0\0") == ("0123456789", "DELIVRD", "000")


@given(receipt_id=_printable, stat=_printable, err=_printable, sub=_printable, date=_printable,
       text=_any_latin1, padding=st.sampled_from(["", "\0", "\0\0", " ", "\0 "]))
@example(receipt_id="x" * 64, stat="delivrd", err="", sub="", date="", text="", padding="")
@example(receipt_id="x" * 65, stat="DELIVRD", err="0", sub="1", date="2401311530", text="", padding="")
@example(receipt_id="1", stat="", err="0", sub="1", date="2401311530", text="a\0b", padding="\0")
def test_appendix_b_form_as_parse_smpp_receipt(receipt_id: str, stat: str, err: str, sub: str, date: str,
                                               text: str, padding: str) -> None:
    data = (format_smpp_receipt(receipt_id, stat, submit_date=date, done_date=date, sub=sub, dlvrd=sub, err=err)
            + text + padding).encode("latin-1")
    assert _actual(data) == _expected(data)


@given(st.binary(max_size=200))
def test_any_octets_as_parse_smpp_receipt(data: bytes) -> None:
    assert _actual(data) == _expected(data)


@given(st.lists(st.sampled_from(["id:", "ID:", "stat:", "err:", "sub:", "dlvrd:", "submit date:", "done date:",
                                 "text:", " ", "  ", "\0", "7F", "delivrd", "é", "\t", ":", "x"]), max_size=30))
def test_near_misses_as_parse_smpp_receipt(pieces: list[str]) -> None:
    data = "".join(pieces).encode("latin-1")
    assert _actual(data) == _expected(data)
