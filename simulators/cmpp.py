"""CMPP 2.0/3.0 simulated ISMG: logins checked with AuthenticatorSource, 64-bit Msg_Ids
with time, gateway code and sequence, 60/71-octet status reports (Stat values including
gateway codes such as MK:0001), MO in UCS-2 (long ones with a UDH and TP_udhi)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
from typing import Any

from protocols import cmpp
from protocols.cmpp import ConnectStatus, Deliver, MsgFmt, Result, Submit, SubmitResp
from protocols.session import Role, Session
from protocols.text import Alphabet, choose_alphabet, decode, parse_udh, split
from protocols.text.udh import UdhError

from .adapter import Accepted, Adapter, SubmitInfo, stamp

_ALPHABETS = {MsgFmt.ASCII: Alphabet.ASCII, MsgFmt.UCS2: Alphabet.UCS2, MsgFmt.GB: Alphabet.GB18030}
_FORMATS = {alphabet: fmt for fmt, alphabet in _ALPHABETS.items()}


@functools.lru_cache(maxsize=4)
def _local(second: int) -> dt.datetime:
    """Msg_Id carries the time to the second: one datetime per second, not per submit."""
    return dt.datetime.fromtimestamp(second)


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
        self._sequence = itertools.count(1)

    def new_session(self, now: float) -> Session:
        return cmpp.CmppSession(
            Role.SERVER,
            self.version,
            **self.session_options(now),
        )

    def bind_account(self, request: Any) -> str:
        return str(request.source_addr)

    def encode(self, pdu: Any) -> bytes:
        return cmpp.encode(pdu, version=self.version)

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
            source=pdu.src_id,
            dests=list(pdu.dest_terminal_ids),
            data=pdu.msg_content,
            coding=pdu.msg_fmt,
            text=decode(data, alphabet) if alphabet else data.hex(),
            wants_report=pdu.registered_delivery == 1,
            segment=segment,
            fields={"service_id": pdu.service_id, "msg_src": pdu.msg_src, "pk_total": pdu.pk_total,
                    "pk_number": pdu.pk_number, "tp_udhi": pdu.tp_udhi},
        )

    def new_message_id(self, wall_time: float) -> Accepted:
        value = cmpp.make_msg_id(_local(int(wall_time)), self.config.gateway_code, next(self._sequence))
        return Accepted(value, str(value), wall_time)

    def submit_response(self, request: Any, status: int, accepted: Accepted | None) -> Any:
        return SubmitResp(sequence=request.sequence, msg_id=accepted.wire_id if accepted else 0, result=status)

    def receipt(self, info: SubmitInfo, accepted: Accepted, stat: str, done_time: float) -> Any:
        dest = info.dests[0] if info.dests else ""
        report = cmpp.Report(
            msg_id=accepted.wire_id,
            stat=stat[:7],
            submit_time=stamp(accepted.submit_time, "%y%m%d%H%M"),
            done_time=stamp(done_time, "%y%m%d%H%M"),
            dest_terminal_id=dest,
            smsc_sequence=accepted.wire_id & 0xFFFF,
        )
        return Deliver(
            msg_id=self.new_message_id(done_time).wire_id,
            dest_id=info.source,
            src_terminal_id=dest,
            registered_delivery=1,
            msg_content=cmpp.encode_report(report, self.version),
        )

    def mo_messages(self, source: str, dest: str, text: str, reference: int) -> list[Any]:
        alphabet = choose_alphabet(text, [Alphabet.ASCII, Alphabet.UCS2])
        parts = split(text, alphabet, reference=reference & 0xFF)
        wall = time.time()
        return [
            Deliver(
                msg_id=self.new_message_id(wall).wire_id,
                dest_id=dest,
                tp_udhi=1 if part.total > 1 else 0,
                msg_fmt=_FORMATS[alphabet],
                src_terminal_id=source,
                msg_content=part.user_data,
            )
            for part in parts
        ]
