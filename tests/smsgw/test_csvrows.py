"""Chunked CSV parsing: any split of any CSV gives csv's own records, with their line numbers."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.csvrows import MAX_RECORD, CsvError, CsvRows

FIELD = st.text(alphabet=st.sampled_from(list('ab,"\n 号码1')), max_size=8)
ROWS = st.lists(st.lists(FIELD, min_size=1, max_size=4), min_size=1, max_size=12)


def parse(data: bytes, cuts: list[int]) -> list[tuple[int, list[str]]]:
    rows = CsvRows()
    out = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        out += rows.feed(data[start:cut])
        start = cut
    out += rows.feed(data[start:])
    return out + rows.close()


@given(ROWS, st.lists(st.integers(0, 400), max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_any_chunking_gives_csvs_records(rows: list[list[str]], cuts: list[int], newline: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    data = buffer.getvalue().encode()
    expected = [row for row in csv.reader(io.StringIO(buffer.getvalue().replace("\r\n", "\n"))) if row]
    got = parse(data, cuts)
    assert [fields for _, fields in got] == expected


def test_line_numbers_count_physical_lines_and_skip_blank_ones() -> None:
    data = b'number,reason\n\n13800138000,"two\nlines"\r\n13900139000,x\n'
    assert parse(data, [5, 20]) == [(1, ["number", "reason"]), (3, ["13800138000", "two\nlines"]),
                                    (5, ["13900139000", "x"])]


def test_bom_and_missing_final_newline() -> None:
    assert parse("\ufeffnumber\n13800138000".encode(), [2]) == [(1, ["number"]), (2, ["13800138000"])]


def test_multibyte_character_split_across_chunks() -> None:
    data = "number,reason\n13800138000,退订\n".encode()
    for cut in range(len(data)):
        assert parse(data, [cut])[1] == (2, ["13800138000", "退订"])


@pytest.mark.parametrize(("data", "message"), [
    (b'number\n"13800138000\n', "line 2: a quoted field is never closed"),
    (b"number\n\xff\xfe\n", "line 2: the CSV is not UTF-8"),
    (b'number\n"a"b"c\n', "line 2:"),
])
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(CsvError, match=message):
        parse(data, [])


def test_a_record_longer_than_the_limit_is_refused() -> None:
    # the body is not verified before it ends: one endless line must not grow memory without bound
    rows = CsvRows()
    with pytest.raises(CsvError, match="line 2"):
        rows.feed(b"number\n")
        for _ in range(MAX_RECORD // 1000 + 2):
            rows.feed(b"1" * 1000)
    quoted = CsvRows()
    with pytest.raises(CsvError, match="line 1"):
        quoted.feed(b'"')
        for _ in range(MAX_RECORD // 1000 + 2):
            quoted.feed(b"x\n" * 500)
