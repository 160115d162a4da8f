"""SMGP 3.0 simulated SMGW: logins checked with AuthenticatorClient, 10-octet BCD MsgIDs,
122-octet status reports, MO in GB18030 (long ones with UDH + PkTotal/PkNumber)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from protocols import smgp
from protocols.session import Role, Session
from protocols.smgp import Deliver, MsgFormat, Status, Submit, SubmitResp
from protocols.text import Alphabet, choose_alphabet, decode, parse_udh, split
from protocols.text.udh import UdhError

from .adapter import Accepted, Adapter, SubmitInfo, stamp

_ALPHABETS = {MsgFormat.ASCII: Alphabet.ASCII, MsgFormat.UCS2: Alphabet.UCS2, MsgFormat.GB18030: Alphabet.GB18030}
_FORMATS = {alphabet: fmt for fmt, alphabet in _ALPHABETS.items()}
#: err values of D.7 per stat
_ERR = {"DELIVRD": "000", "EXPIRED": "001", "UNDELIV": "004", "REJECTD": "005", "DELETED": "006", "UNKNOWN": "999"}
_GATEWAY = "010061"


def text_of(data: bytes, fmt: int) -> str:
    alphabet = _ALPHABETS.get(MsgFormat(fmt)) if fmt in MsgFormat._value2member_map_ else None
    return decode(data, alphabet) if alphabet else data.hex()


class SmgpAdapter(Adapter):
    name = "smgp"
    throttle_status = Status.SYSTEM_BUSY
    window_status = Status.SYSTEM_BUSY
    auth_status = Status.AUTHENTICATION_ERROR
    too_many_binds_status = Status.TOO_MANY_CONNECTIONS
    deliver_command_id = smgp.CommandId.DELIVER

    _sequence = itertools.count()

    def new_session(self, now: float) -> Session:
        return smgp.SmgpSession(
            Role.SERVER,
            **self.session_options(now),
        )

    def bind_account(self, request: Any) -> str:
        return str(request.client_id)

    def encode(self, pdu: Any) -> bytes:
        return smgp.encode(pdu)

    def is_submit(self, pdu: Any) -> bool:
        return type(pdu) is Submit

    def submit_info(self, pdu: Submit) -> SubmitInfo:
        data, segment = pdu.msg_content, None
        if pdu.udhi:
            try:
                udh, data = parse_udh(pdu.msg_content)
            except UdhError:
                udh = None
            if udh is not None and udh.concat is not None:
                segment = udh.concat
        elif (pdu.pk_total or 1) > 1:
            segment = (0, pdu.pk_total or 1, pdu.pk_number or 1)
        return SubmitInfo(
            source=pdu.src_term_id,
            dests=list(pdu.dest_term_ids),
            data=pdu.msg_content,
            coding=pdu.msg_format,
            text=text_of(data, pdu.msg_format),
            wants_report=pdu.need_report == 1,
            segment=segment,
            fields={"service_id": pdu.service_id, "pk_total": pdu.pk_total, "pk_number": pdu.pk_number,
                    "tp_udhi": pdu.tp_udhi},
        )

    def new_message_id(self, wall_time: float) -> Accepted:
        raw = smgp.build_msg_id(_GATEWAY, stamp(wall_time, "%m%d%H%M"), next(self._sequence) % 1_000_000)
        return Accepted(raw, smgp.msg_id_hex(raw), wall_time)

    def submit_response(self, request: Any, status: int, accepted: Accepted | None) -> Any:
        if accepted is None:
            return SubmitResp(sequence=request.sequence, status=status)
        return SubmitResp(sequence=request.sequence, msg_id=accepted.wire_id, status=status)

    def receipt(self, info: SubmitInfo, accepted: Accepted, stat: str, done_time: float) -> Any:
        report = smgp.Report(
            msg_id=accepted.wire_id,
            stat=stat[:7],
            err=_ERR.get(stat, "006"),
            submit_date=stamp(accepted.submit_time, "%y%m%d%H%M"),
            done_date=stamp(done_time, "%y%m%d%H%M"),
            text=smgp.report_text(info.data),
        )
        return Deliver(
            msg_id=self.new_message_id(done_time).wire_id,
            is_report=1,
            msg_format=MsgFormat.ASCII,
            recv_time=stamp(done_time, "%Y%m%d%H%M%S"),
            src_term_id=info.dests[0] if info.dests else "",
            dest_term_id=info.source,
            msg_content=smgp.encode_report(report),
        )

    def mo_messages(self, source: str, dest: str, text: str, reference: int) -> list[Any]:
        alphabet = choose_alphabet(text, [Alphabet.ASCII, Alphabet.GB18030])
        parts = split(text, alphabet, reference=reference & 0xFF)
        wall = time.time()
        pdus = []
        for part in parts:
            pdu = Deliver(
                msg_id=self.new_message_id(wall).wire_id,
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
