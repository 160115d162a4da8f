"""The status report carried in the Msg_Content of a CMPP_DELIVER with
Registered_Delivery = 1 (PROTOCOLS.md C.9).

It is 60 octets in CMPP 2.0 and 71 in 3.0 (Dest_terminal_Id 21 vs 32). Some ISMGs send
the 60-octet form on 3.0 links (GOCMPP models only that one), so decoding goes by length
and accepts either layout in either session; ``layout`` says which one was found and
``layout_mismatch`` flags a report whose layout differs from the session's version, a
difference worth logging but not worth losing a report over.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import LocalProtocolError, RemoteProtocolError
from .constants import CommandId, Result, layout_version, stat_description
from .pdus import Deliver
from .schema import decode_text, encode_text

_FORMATS = {2: struct.Struct(">Q7s10s10s21sI"), 3: struct.Struct(">Q7s10s10s32sI")}
REPORT_SIZES = {layout: fmt.size for layout, fmt in _FORMATS.items()}  # {2: 60, 3: 71}
_LAYOUT_BY_SIZE = {size: layout for layout, size in REPORT_SIZES.items()}


@dataclass(slots=True)
class Report:
    msg_id: int = 0  # the Msg_Id of the SUBMIT_RESP, binary u64 (E.2)
    stat: str = ""  # DELIVRD, UNDELIV, ... or a gateway code such as "MA:0001"
    submit_time: str = ""  # YYMMDDHHMM
    done_time: str = ""  # YYMMDDHHMM
    dest_terminal_id: str = ""
    smsc_sequence: int = 0
    layout: int = 3  # the layout it was decoded from (2: 60 octets, 3: 71 octets)
    layout_mismatch: bool = False  # decoded layout differs from the session's version

    @property
    def delivered(self) -> bool:
        return self.stat == "DELIVRD"

    @property
    def stat_description(self) -> str:
        return stat_description(self.stat)


def decode_report(content: bytes, version: int = 3) -> Report:
    """Parse a report by its length (60 or 71 octets); any other length raises
    ``RemoteProtocolError`` with status 1 (structure error) for the DELIVER_RESP."""
    expected = layout_version(version)
    layout = _LAYOUT_BY_SIZE.get(len(content))
    if layout is None:
        raise RemoteProtocolError(
            f"status report of {len(content)} octets: expected {REPORT_SIZES[expected]}"
            f" (CMPP {expected}.0) or {REPORT_SIZES[5 - expected]} (CMPP {5 - expected}.0)",
            status=Result.STRUCTURE_ERROR, command_id=CommandId.DELIVER,
        )
    msg_id, stat, submit_time, done_time, dest, smsc_sequence = _FORMATS[layout].unpack(content)
    return Report(
        msg_id, decode_text(stat), decode_text(submit_time), decode_text(done_time),
        decode_text(dest), smsc_sequence, layout, layout != expected,
    )


def encode_report(report: Report, version: int = 3) -> bytes:
    """The Msg_Content of a report in the layout of ``version`` (``report.layout`` is
    ignored: the simulator writes what its configured version says)."""
    layout = layout_version(version)
    try:
        return _FORMATS[layout].pack(
            report.msg_id,
            encode_text(report.stat, 7, "Stat"),
            encode_text(report.submit_time, 10, "Submit_time"),
            encode_text(report.done_time, 10, "Done_time"),
            encode_text(report.dest_terminal_id, 21 if layout == 2 else 32, "Dest_terminal_Id"),
            report.smsc_sequence,
        )
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode report: {exc}") from None


def report_of(deliver: Deliver, version: int = 3) -> Report | None:
    """The report inside ``deliver``, or ``None`` for an ordinary MO message."""
    if deliver.registered_delivery != 1:
        return None
    try:
        return decode_report(deliver.msg_content, version)
    except RemoteProtocolError as exc:
        exc.sequence = deliver.sequence
        raise
