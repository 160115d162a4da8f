"""CSV records from a body that arrives in chunks (sans-IO: bytes in, rows out).

``csv.reader`` wants the whole input or a blocking iterator; an upload arrives as chunks from
the network. ``CsvRows`` splits the decoded text into lines and joins lines while a quoted
field is open (an odd count of ``"`` so far: RFC 4180 quotes come in pairs, ``""`` included),
so every record it hands to ``csv`` is complete. Lines without quotes, the usual case, are
split directly. Each record carries the line number it starts on (1-based), for error reports.
A record longer than ``MAX_RECORD`` characters is refused: a body is verified only once it has
ended, so what is held before then must be bounded.
"""

from __future__ import annotations

import codecs
import csv

MAX_RECORD = 64 * 1024  # characters of one record (its lines, for a quoted field with line breaks)


class CsvError(ValueError):
    """The body is not UTF-8 CSV; the message says where."""


class CsvRows:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._tail = ""  # text after the last line break
        self._record: list[str] = []  # lines of a record whose quoted field is still open
        self._quotes = 0
        self._open = 0  # characters in _record
        self._line = 0  # lines consumed
        self._start = 0  # line the open record starts on

    def feed(self, data: bytes) -> list[tuple[int, list[str]]]:
        """The records completed by ``data`` as (line number, fields); blank lines are skipped."""
        try:
            text = self._tail + self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            line = self._line + 1 + data[:exc.start].count(b"\n")
            raise CsvError(f"line {line}: the CSV is not UTF-8 ({exc.reason})") from None
        lines = text.split("\n")
        self._tail = lines.pop()
        out = self._records(lines)
        if len(self._tail) + self._open > MAX_RECORD:
            start = self._start if self._record else self._line + 1
            raise CsvError(f"line {start}: a record is longer than {MAX_RECORD} characters")
        return out

    def close(self) -> list[tuple[int, list[str]]]:
        """The last records; ``CsvError`` if the body ends inside a quoted field."""
        try:
            text = self._tail + self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise CsvError(f"line {self._line + 1}: the CSV is not UTF-8 ({exc.reason})") from None
        self._tail = ""
        out = self._records([text]) if text else []
        if self._record:
            raise CsvError(f"line {self._start}: a quoted field is never closed")
        return out

    def _records(self, lines: list[str]) -> list[tuple[int, list[str]]]:
        out = []
        for line in lines:
            self._line += 1
            if line.endswith("\r"):
                line = line[:-1]
            quotes = line.count('"')
            if not self._record:
                if not quotes:
                    if line:
                        out.append((self._line, line.split(",")))
                    continue
                self._start = self._line
            self._record.append(line)
            self._quotes += quotes
            self._open += len(line) + 1
            if self._quotes % 2:
                continue  # a quoted field spans the line break
            record = "\n".join(self._record)
            self._record, self._quotes, self._open = [], 0, 0
            try:
                out.append((self._start, next(csv.reader([record], strict=True))))
            except csv.Error as exc:
                raise CsvError(f"line {self._start}: {exc}") from None
        return out
