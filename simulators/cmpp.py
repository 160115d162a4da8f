"""CMPP 2.0/3.0 simulated ISMG: logins checked with AuthenticatorSource, 64-bit Msg_Ids
with time, gateway code and sequence, 60/71-octet status reports (Stat values including
gateway codes such as MK:0001), MO in UCS-2 (long ones with a UDH and TP_udhi)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import struct
import time
from typing import Any

from protocols import cmpp
from protocols.cmpp import ConnectStatus, Deliver, MsgFmt, Result, Submit, SubmitResp
from protocols.session import Role, Session
from protocols.text import Alphabet, choose_alphabet, parse_udh, split
from protocols.text.udh import UdhError

from .adapter import Accepted, Adapter, SubmitInfo, decode_text, stamp
from .encoded import Encoded, EncodedSession

_ALPHABETS = {MsgFmt.ASCII: Alphabet.ASCII, MsgFmt.UCS2: Alphabet.UCS2, MsgFmt.GB: Alphabet.GB18030}
_FORMATS = {alphabet: fmt for fmt, alphabet in _ALPHABETS.items()}
_SEQUENCE_AT = 8
_DELIVER = int(cmpp.CommandId.DELIVER)
_SUBMIT_RESP = int(cmpp.CommandId.SUBMIT_RESP)
_SUBMIT_RESP_FRAME = {3: struct.Struct(">IIIQI"), 2: struct.Struct(">IIIQB")}
#: a whole DELIVER carrying a status report, per layout: header, the fixed fields up to
#: Msg_Length, the report (Msg_Id, Stat, Submit_time, Done_time, Dest_terminal_Id,
#: SMSC_sequence), LinkID / Reserved
_RECEIPT_FRAME = {
    3: struct.Struct(">IIIQ21s10sBBB32sBBB" "Q7s10s10s32sI" "20s"),
    2: struct.Struct(">IIIQ21s10sBBB21sBB" "Q7s10s10s21sI" "8s"),
}
_TERMINAL = {3: 32, 2: 21}


@functools.lru_cache(maxsize=4)
def _local(second: int) -> dt.datetime:
    """Msg_Id carries the time to the second: one datetime per second, not per submit."""
    return dt.datetime.fromtimestamp(second)


class SimCmppSession(EncodedSession, cmpp.CmppSession):
    """The ISMG session, sending the adapter's ready-made frames."""

    DELIVER_ID = int(cmpp.CommandId.DELIVER)


class CmppAdapter(Adapter):
    name = "cmpp"
    throttle_status = Result.FLOW_CONTROL
    window_status = Result.FLOW_CONTROL
    auth_status = ConnectStatus.AUTHENTICATION_ERROR
    too_many_binds_status = ConnectStatus.OTHER_ERROR
    deliver_command_id = cmpp.CommandId.DELIVER

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.version = config.cmpp_version
        self._layout = cmpp.layout_version(config.cmpp_version)
        self._sequence = itertools.count(1)
        self._id_second = -1
        self._id_base = 0

    def new_session(self, now: float) -> Session:
        return SimCmppSession(
            Role.SERVER,
            self.version,
            **self.session_options(now),
        )

    def bind_account(self, request: Any) -> str:
        return str(request.source_addr)

    def encode(self, pdu: Any) -> bytes:
        return bytes(pdu.to_bytes()) if type(pdu) is Encoded else cmpp.encode(pdu, version=self.version)

    def is_submit(self, pdu: Any) -> bool:
        return type(pdu) is Submit

    def submit_info(self, pdu: Submit) -> SubmitInfo:
        data, segment = pdu.msg_content, None
        if cmpp.has_udh(pdu):
            try:
                udh, data = parse_udh(pdu.msg_content)
            except UdhError:
                udh = None
            if udh is not None and udh.concat is not None:
                segment = udh.concat
        if segment is None and pdu.pk_total > 1:
            segment = (0, pdu.pk_total, pdu.pk_number)
        alphabet = _ALPHABETS.get(pdu.msg_fmt)  # type: ignore[call-overload]
        return SubmitInfo(
            pdu.src_id,
            list(pdu.dest_terminal_ids),
            pdu.msg_content,
            pdu.msg_fmt,
            decode_text(data, alphabet) if alphabet else data.hex(),
            pdu.registered_delivery == 1,  # wants_report
            segment,
            {"service_id": pdu.service_id, "msg_src": pdu.msg_src, "pk_total": pdu.pk_total,
             "pk_number": pdu.pk_number, "tp_udhi": pdu.tp_udhi},
        )

    def new_message_id(self, wall_time: float) -> Accepted:
        value = self._msg_id(wall_time)
        return Accepted(value, str(value), wall_time)

    def _msg_id(self, wall_time: float) -> int:
        """``make_msg_id`` for this second and the next sequence; the time and gateway
        bits are the same all second, so they are built once per second."""
        second = int(wall_time)
        if second != self._id_second:
            self._id_base = cmpp.make_msg_id(_local(second), self.config.gateway_code, 0)
            self._id_second = second
        return self._id_base | (next(self._sequence) & 0xFFFF)

    def submit_response(self, request: Any, status: int, accepted: Accepted | None) -> Any:
        if accepted is None:
            return SubmitResp(sequence=request.sequence, result=status)
        fmt = _SUBMIT_RESP_FRAME[self._layout]
        frame = bytearray(fmt.size)
        fmt.pack_into(frame, 0, fmt.size, _SUBMIT_RESP, request.sequence, accepted.wire_id, 0)
        return Encoded(_SUBMIT_RESP, frame, _SEQUENCE_AT, request.sequence)

    def receipt(self, info: SubmitInfo, accepted: Accepted, stat: str, done_time: float) -> Any:
        dest = info.dests[0] if info.dests else ""
        submit_time = stamp(accepted.submit_time, "%y%m%d%H%M")
        done = stamp(done_time, "%y%m%d%H%M")
        msg_id = self._msg_id(done_time)
        layout, wire_id = self._layout, accepted.wire_id
        try:  # the times are digits; these come from the submit and the flags
            dest_id, terminal, stat_ = info.source.encode("latin-1"), dest.encode("latin-1"), stat[:7].encode("latin-1")
        except UnicodeEncodeError:
            dest_id = terminal = stat_ = None
        if (
            dest_id is None or terminal is None or stat_ is None
            or len(dest_id) > 21 or len(terminal) > _TERMINAL[layout] or not 0 <= wire_id < 1 << 64
        ):
            report = cmpp.Report(
                msg_id=wire_id,
                stat=stat[:7],
                submit_time=submit_time,
                done_time=done,
                dest_terminal_id=dest,
                smsc_sequence=wire_id & 0xFFFF,
            )
            return Deliver(
                msg_id=msg_id,
                dest_id=info.source,
                src_terminal_id=dest,
                registered_delivery=1,
                msg_content=cmpp.encode_report(report, self.version),
            )
        # the frame cmpp.encode writes for that Deliver, sequence left 0
        fmt = _RECEIPT_FRAME[layout]
        frame = bytearray(fmt.size)
        times = (submit_time.encode(), done.encode())
        if layout == 3:
            fmt.pack_into(frame, 0, fmt.size, _DELIVER, 0, msg_id, dest_id, b"", 0, 0, 0, terminal, 0, 1,
                          71, wire_id, stat_, *times, terminal, wire_id & 0xFFFF, b"")
        else:
            fmt.pack_into(frame, 0, fmt.size, _DELIVER, 0, msg_id, dest_id, b"", 0, 0, 0, terminal, 1,
                          60, wire_id, stat_, *times, terminal, wire_id & 0xFFFF, b"")
        return Encoded(_DELIVER, frame, _SEQUENCE_AT)

    def mo_messages(self, source: str, dest: str, text: str, reference: int) -> list[Any]:
        alphabet = choose_alphabet(text, [Alphabet.ASCII, Alphabet.UCS2])
        parts = split(text, alphabet, reference=reference & 0xFF)
        wall = time.time()
        return [
            Deliver(
                msg_id=self._msg_id(wall),
                dest_id=dest,
                tp_udhi=1 if part.total > 1 else 0,
                msg_fmt=_FORMATS[alphabet],
                src_terminal_id=source,
                msg_content=part.user_data,
            )
            for part in parts
        ]
