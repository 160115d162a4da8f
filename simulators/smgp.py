"""SMGP 3.0 simulated SMGW: logins checked with AuthenticatorClient, 10-octet BCD MsgIDs,
122-octet status reports, MO in GB18030 (long ones with UDH + PkTotal/PkNumber)."""

from __future__ import annotations

import itertools
import struct
import time
from typing import Any

from protocols import smgp
from protocols.session import Role, Session
from protocols.smgp import Deliver, MsgFormat, Status, Submit, SubmitResp
from protocols.text import Alphabet, choose_alphabet, parse_udh, split
from protocols.text.udh import UdhError

from .adapter import Accepted, Adapter, SubmitInfo, decode_text, stamp
from .encoded import Encoded, EncodedSession

_ALPHABETS = {MsgFormat.ASCII: Alphabet.ASCII, MsgFormat.UCS2: Alphabet.UCS2, MsgFormat.GB18030: Alphabet.GB18030}
_FORMATS = {alphabet: fmt for fmt, alphabet in _ALPHABETS.items()}
#: err values of D.7 per stat
_ERR = {"DELIVRD": "000", "EXPIRED": "001", "UNDELIV": "004", "REJECTD": "005", "DELETED": "006", "UNKNOWN": "999"}
_GATEWAY = "010061"
_SEQUENCE_AT = 8
_DELIVER = int(smgp.CommandId.DELIVER)
_SUBMIT_RESP = int(smgp.CommandId.SUBMIT_RESP)
_SUBMIT_RESP_FRAME = struct.Struct(">III10sI")
#: a whole Deliver carrying a status report: header, MsgID .. MsgLength, the 122-octet
#: report (labels and values in turn, as smgp.encode_report writes it), Reserve
_RECEIPT_FRAME = struct.Struct(">III10sBB14s21s21sB" "3s10s5s3s7s3s13s10s11s10s6s7s5s3s6s20s" "8s")
_REPORT_SIZE = 122


def text_of(data: bytes, fmt: int) -> str:
    alphabet = _ALPHABETS.get(fmt)  # type: ignore[call-overload]  # IntEnum keys match plain ints
    return decode_text(data, alphabet) if alphabet else data.hex()


class SimSmgpSession(EncodedSession, smgp.SmgpSession):
    """The SMGW session, sending the adapter's ready-made frames."""

    DELIVER_ID = int(smgp.CommandId.DELIVER)


class SmgpAdapter(Adapter):
    name = "smgp"
    throttle_status = Status.SYSTEM_BUSY
    window_status = Status.SYSTEM_BUSY
    auth_status = Status.AUTHENTICATION_ERROR
    too_many_binds_status = Status.TOO_MANY_CONNECTIONS
    deliver_command_id = smgp.CommandId.DELIVER

    _sequence = itertools.count()

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._id_second = -1
        self._id_minute = ""
        self._id_prefix = b""

    def new_session(self, now: float) -> Session:
        return SimSmgpSession(
            Role.SERVER,
            **self.session_options(now),
        )

    def bind_account(self, request: Any) -> str:
        return str(request.client_id)

    def encode(self, pdu: Any) -> bytes:
        return bytes(pdu.to_bytes()) if type(pdu) is Encoded else smgp.encode(pdu)

    def is_submit(self, pdu: Any) -> bool:
        return type(pdu) is Submit

    def submit_info(self, pdu: Submit) -> SubmitInfo:
        data, segment = pdu.msg_content, None
        pk_total = pk_number = tp_udhi = None
        if pdu.tlvs:  # the TLV properties each search the list: only when there is one
            pk_total, pk_number, tp_udhi = pdu.pk_total, pdu.pk_number, pdu.tp_udhi
            if pdu.udhi:
                try:
                    udh, data = parse_udh(pdu.msg_content)
                except UdhError:
                    udh = None
                if udh is not None and udh.concat is not None:
                    segment = udh.concat
            elif (pk_total or 1) > 1:
                segment = (0, pk_total or 1, pk_number or 1)
        return SubmitInfo(
            pdu.src_term_id,
            list(pdu.dest_term_ids),
            pdu.msg_content,
            pdu.msg_format,
            text_of(data, pdu.msg_format),
            pdu.need_report == 1,  # wants_report
            segment,
            {"service_id": pdu.service_id, "pk_total": pk_total, "pk_number": pk_number, "tp_udhi": tp_udhi},
        )

    def new_message_id(self, wall_time: float) -> Accepted:
        raw = self._msg_id(wall_time)
        return Accepted(raw, raw.hex(), wall_time)  # smgp.msg_id_hex

    def _msg_id(self, wall_time: float) -> bytes:
        """``build_msg_id`` for this minute and the next sequence; the SMGW code and time
        digits are the same all minute, so they are built once per second at most."""
        second = int(wall_time)
        if second != self._id_second:
            self._id_second = second
            minute = stamp(wall_time, "%m%d%H%M")
            if minute != self._id_minute:
                self._id_prefix = smgp.build_msg_id(_GATEWAY, minute, 0)[:7]
                self._id_minute = minute
        return self._id_prefix + bytes.fromhex(f"{next(self._sequence) % 1_000_000:06d}")

    def submit_response(self, request: Any, status: int, accepted: Accepted | None) -> Any:
        if accepted is None:
            return SubmitResp(sequence=request.sequence, status=status)
        frame = bytearray(_SUBMIT_RESP_FRAME.size)
        _SUBMIT_RESP_FRAME.pack_into(frame, 0, _SUBMIT_RESP_FRAME.size, _SUBMIT_RESP, request.sequence,
                                     accepted.wire_id, status)
        return Encoded(_SUBMIT_RESP, frame, _SEQUENCE_AT, request.sequence)

    def receipt(self, info: SubmitInfo, accepted: Accepted, stat: str, done_time: float) -> Any:
        dest = info.dests[0] if info.dests else ""
        err = _ERR.get(stat, "006")
        submitted = stamp(accepted.submit_time, "%y%m%d%H%M")
        done = stamp(done_time, "%y%m%d%H%M")
        recv_time = stamp(done_time, "%Y%m%d%H%M%S")
        msg_id = self._msg_id(done_time)
        text = smgp.report_text(info.data)  # 3 digits and 17 latin-1 characters at most
        try:  # the times and err are digits; these come from the submit and the flags
            src, dst, stat_ = dest.encode("latin-1"), info.source.encode("latin-1"), stat[:7].encode("latin-1")
        except UnicodeEncodeError:
            src = dst = stat_ = None
        if src is None or dst is None or stat_ is None or len(src) > 21 or len(dst) > 21 or len(accepted.wire_id) != 10:
            report = smgp.Report(
                msg_id=accepted.wire_id, stat=stat[:7], err=err, submit_date=submitted, done_date=done, text=text
            )
            return Deliver(
                msg_id=msg_id,
                is_report=1,
                msg_format=MsgFormat.ASCII,
                recv_time=recv_time,
                src_term_id=dest,
                dest_term_id=info.source,
                msg_content=smgp.encode_report(report),
            )
        # the frame smgp.encode writes for that Deliver, sequence left 0
        frame = bytearray(_RECEIPT_FRAME.size)
        _RECEIPT_FRAME.pack_into(
            frame, 0, _RECEIPT_FRAME.size, _DELIVER, 0, msg_id, 1, MsgFormat.ASCII, recv_time.encode(), src, dst,
            _REPORT_SIZE, b"id:", accepted.wire_id, b" sub:", b"001", b" dlvrd:", b"001", b" Submit date:",
            submitted.encode(), b" done date:", done.encode(), b" stat:", stat_, b" err:", err.encode(), b" Text:",
            text.encode("latin-1"), b"",
        )
        return Encoded(_DELIVER, frame, _SEQUENCE_AT)

    def mo_messages(self, source: str, dest: str, text: str, reference: int) -> list[Any]:
        alphabet = choose_alphabet(text, [Alphabet.ASCII, Alphabet.GB18030])
        parts = split(text, alphabet, reference=reference & 0xFF)
        wall = time.time()
        pdus = []
        for part in parts:
            pdu = Deliver(
                msg_id=self._msg_id(wall),
                is_report=0,
                msg_format=_FORMATS[alphabet],
                recv_time=stamp(wall, "%Y%m%d%H%M%S"),
                src_term_id=source,
                dest_term_id=dest,
                msg_content=part.user_data,
            )
            if part.total > 1:
                pdu.tp_udhi = 1
                pdu.pk_total = part.total
                pdu.pk_number = part.index
            pdus.append(pdu)
        return pdus
