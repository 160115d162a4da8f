"""Incremental CSV decoding: the records of ``csv.reader`` on the whole file, whatever the chunks."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.csvstream import SNIFF_BYTES, CsvError, CsvRecords

fields = st.text(alphabet=st.sampled_from(list('ab,"\n\r 1张三') ), max_size=8)
tables = st.lists(st.lists(fields, min_size=1, max_size=4), min_size=1, max_size=30)


def write(rows: list[list[str]]) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def read(data: bytes, cuts: list[int], encoding: str | None = None) -> tuple[list[list[str]], str | None]:
    reader = CsvRecords(encoding)
    records: list[list[str]] = []
    start = 0
    for cut in [*sorted(set(c for c in cuts if c < len(data))), len(data)]:
        records += reader.feed(data[start:cut])
        start = cut
    records += reader.close()
    return records, reader.encoding


@given(tables, st.lists(st.integers(min_value=0, max_value=600), max_size=15),
       st.sampled_from(["utf-8", "utf-8-sig", "gbk"]))
def test_records_survive_any_chunking_and_encoding(rows: list[list[str]], cuts: list[int], encoding: str) -> None:
    text = write(rows)
    data = text.encode(encoding)
    expected = list(csv.reader(io.StringIO(text, newline="")))
    records, found = read(data, cuts)
    assert records == expected
    if encoding == "gbk" and not text.isascii():
        assert found == "gb18030"


def test_large_gbk_file_is_sniffed_from_its_start() -> None:
    rows = [["to", "name"]] + [[f"138{i:08d}", "张三"] for i in range(2000)]
    data = write(rows).encode("gbk")
    assert len(data) > 4 * SNIFF_BYTES
    records, encoding = read(data, list(range(0, len(data), 1000)))
    assert records == rows and encoding == "gb18030"


def test_bom_is_dropped_and_named_encoding_is_used() -> None:
    records, _ = read("to,code\r\n13800138000,1\r\n".encode("utf-8-sig"), [1, 2, 3])
    assert records == [["to", "code"], ["13800138000", "1"]]
    assert read("to\n张\n".encode("gbk"), [], "gbk")[0] == [["to"], ["张"]]


def test_errors_are_csv_errors() -> None:
    with pytest.raises(CsvError, match="not valid utf-8 near byte"):
        read(b"to\n" + b"1" * SNIFF_BYTES + b"\n\xff\xfe\n", [SNIFF_BYTES + 10])
    with pytest.raises(CsvError, match="malformed CSV"):
        read(b'to\n"unterminated\n', [])
    with pytest.raises(CsvError, match="unknown encoding"):
        CsvRecords("klingon")
