"""The status report carried in a Deliver's MsgContent when IsReport = 1 (PROTOCOLS.md
D.7, E.4, E.5)::

    id:IIIIIIIIII sub:001 dlvrd:001 Submit date:YYMMDDHHMM done date:YYMMDDHHMM
    stat:DELIVRD err:000 Text:LLLfirst-17-octets...             (one line, 122 octets)

``IIIIIIIIII`` is the raw 10-octet MsgID of the Submit, so the report is binary, not
text. ``encode_report`` writes the spec form (fixed sizes, values 0x00-padded; labels
"Submit date:" / "Text:" as the spec and go_smgp write them, or SMSGate's lower case).

``decode_report`` is liberal (CONFLICT F.10): the id is taken by position, the other
labels are found in order case-insensitively, each value runs to the next label, so
12- and 14-digit dates and a missing ``text:`` are accepted. A report it cannot read
raises ``RemoteProtocolError`` (Status 10) -- the caller decides whether to answer the
Deliver with an error or to keep it as an unmatched report.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..errors import LocalProtocolError, RemoteProtocolError
from .constants import MSG_ID_SIZE, Status

REPORT_SIZE = 122
_DATE_LENGTHS = (10, 12, 14)
#: (label as the spec writes it, value size) after the id
_SPEC_FIELDS = (
    (b" sub:", 3),
    (b" dlvrd:", 3),
    (b" Submit date:", 10),
    (b" done date:", 10),
    (b" stat:", 7),
    (b" err:", 3),
    (b" Text:", 20),
)
_KEYS = (b"sub:", b"dlvrd:", b"submit date:", b"done date:", b"stat:", b"err:")


@dataclass(frozen=True, slots=True)
class Report:
    msg_id: bytes  # raw 10 octets of the Submit_Resp MsgID
    stat: str  # DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD
    err: str = "000"
    submit_date: str = ""  # YYMMDDHHMM
    done_date: str = ""
    sub: str = "001"
    dlvrd: str = "001"
    text: str = ""  # 3-digit length of the original message + its first 17 octets

    @property
    def delivered(self) -> bool:
        return self.stat.upper() == "DELIVRD"


def report_text(original: bytes) -> str:
    """The ``Text:`` value for ``original`` message content (length + first 17 octets)."""
    return f"{min(len(original), 999):03d}" + original[:17].decode("latin-1")


def encode_report(report: Report, *, lower_case: bool = False) -> bytes:
    """The 122-octet report. ``lower_case`` writes "submit date:" / "text:" (SMSGate)."""
    if len(report.msg_id) != MSG_ID_SIZE:
        raise LocalProtocolError("report MsgID must be 10 octets")
    values = (report.sub, report.dlvrd, report.submit_date, report.done_date,
              report.stat, report.err, report.text)
    out = [b"id:", report.msg_id]
    for (label, size), value in zip(_SPEC_FIELDS, values):
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"report field {label!r} must be latin-1") from None
        if len(raw) > size:
            raise LocalProtocolError(f"report field {label!r} longer than {size}: {value!r}")
        out += (label.lower() if lower_case else label, raw.ljust(size, b"\0"))
    return b"".join(out)


def _error(message: str, offset: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"status report: {message}", status=Status.MESSAGE_STRUCTURE_ERROR, offset=offset
    )


def decode_report(content: bytes) -> Report:
    """Parse a report; ``RemoteProtocolError`` (Status 10) when it is not one."""
    data = bytes(content)
    low = data.lower()
    if not low.startswith(b"id:") or len(data) < 3 + MSG_ID_SIZE:
        raise _error("does not start with 'id:' and a 10-octet MsgID", 0)
    positions = []
    pos = 3 + MSG_ID_SIZE
    for key in (*_KEYS, b"text:"):
        at = low.find(key, pos)
        if at < 0:
            if key == b"text:":
                break
            raise _error(f"label {key.decode()!r} missing", pos)
        positions.append((at, at + len(key)))
        pos = at + len(key)
    if data[3 + MSG_ID_SIZE : positions[0][0]].strip(b" \0"):
        raise _error("unexpected octets after the MsgID", 3 + MSG_ID_SIZE)
    values = []
    for (_, start), (stop, _) in itertools.pairwise(positions):
        values.append(data[start:stop].strip(b" \0").decode("latin-1"))
    if len(positions) == len(_KEYS):  # no text: the err value runs to the end
        values.append(data[positions[-1][1] :].strip(b" \0").decode("latin-1"))
        text = ""
    else:
        text = data[positions[-1][1] :].rstrip(b"\0").decode("latin-1")
    sub, dlvrd, submit_date, done_date, stat, err = values
    for (_, start), date in zip(positions[2:4], (submit_date, done_date)):
        if not (date.isascii() and date.isdigit() and len(date) in _DATE_LENGTHS):
            raise _error(f"date {date!r} is not 10, 12 or 14 digits", start)
    if not stat:
        raise _error("empty stat", positions[4][1])
    return Report(
        msg_id=data[3 : 3 + MSG_ID_SIZE], stat=stat, err=err, submit_date=submit_date,
        done_date=done_date, sub=sub, dlvrd=dlvrd, text=text,
    )
