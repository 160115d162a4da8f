"""The client side of each protocol as a ``Link``: how a message becomes submit PDUs, how
a submit response is judged, how deliver PDUs become receipts or MO parts.

Retry classes per protocol (``Outcome``): throttling pauses the channel and resends;
transient errors resend a bounded number of times; everything else fails the message
with the operator's code.
"""

from __future__ import annotations

import time
from typing import Any

from protocols import cmpp, smgp, smpp
from protocols.errors import RemoteProtocolError
from protocols.msgid import normalise_message_id
from protocols.receipts import ReceiptError, is_final, smpp_receipt_fields
from protocols.session import Role, Session, State
from protocols.smpp.describe import alphabet_of
from protocols.text import Alphabet, UdhError, decode, parse_udh
from protocols.tlv import find_tlv

from .config import ChannelConfig
from .link import Ignored, Link, MoPart, OutboundText, Outcome, Receipt, SubmitResult

_SMPP_MODES = {"transmitter": State.BOUND_TX, "receiver": State.BOUND_RX, "transceiver": State.BOUND_TRX}
_SMGP_MODES = {"transmitter": smgp.LoginMode.SEND, "receiver": smgp.LoginMode.RECEIVE,
               "transceiver": smgp.LoginMode.TRANSMIT}
_SMPP_OK_CODE = "0x00000000"
# plain ints: an IntEnum member is looked up through the enum's metaclass (0.1 µs a time)
_SMPP_RECEIPT, _RECEIPTED_MESSAGE_ID, _MESSAGE_STATE = (
    int(smpp.Esm.RECEIPT), int(smpp.Tag.RECEIPTED_MESSAGE_ID), int(smpp.Tag.MESSAGE_STATE))
# ``Outcome.OK`` read through the enum class costs ~0.15 µs; once per submit response, so kept here.
_OK = Outcome.OK
_SMPP_THROTTLED = {smpp.Status.ESME_RTHROTTLED, smpp.Status.ESME_RMSGQFUL}
_SMPP_TRANSIENT = {smpp.Status.ESME_RSYSERR, smpp.Status.ESME_RX_T_APPN, smpp.Status.ESME_RSUBMITFAIL,
                   smpp.Status.ESME_RUNKNOWNERR}
#: deliver_sm / data_sm message types (esm_class bits 5-2, PROTOCOLS.md A.6) that are neither MO
#: nor a delivery receipt. SME acknowledgements answer submits that asked for them (registered_delivery
#: bits 3-2, never set here) and a conversation abort ends a Korean CDMA session: no text for anyone.
#: An intermediate notification reports a message that is not final yet (buffered, a retry coming):
#: the gateway keeps no such state (an ENROUTE receipt changes nothing either), and matched or
#: parked as a receipt its stat, whatever word the SMSC put there, could end the message.
_SMPP_IGNORED = {0x08: "sme_delivery_ack", 0x10: "sme_manual_ack", 0x18: "conversation_abort",
                 0x20: "intermediate_notification"}


def _login_timestamp(wall_time: float) -> int:
    """MMDDHHMMSS of local time, as CMPP and SMGP logins carry it."""
    return int(time.strftime("%m%d%H%M%S", time.localtime(wall_time)))


def _mo_part(source: str, dest: str, data: bytes, coding: int, alphabet: Alphabet | None, udhi: bool) -> MoPart:
    concat = None
    if udhi:
        try:
            udh, data = parse_udh(data)
        except UdhError:
            udh = None
        if udh is not None:
            concat = udh.concat
    text = decode(data, alphabet) if alphabet is not None else data.hex()
    return MoPart(source, dest, data, coding, text, concat)


class SmppLink(Link):
    def __init__(self, channel: ChannelConfig) -> None:
        super().__init__(channel)
        self.candidates = [Alphabet.GSM7 if channel.gsm7 else Alphabet.LATIN1, Alphabet.UCS2]
        self._codings = {Alphabet.GSM7: smpp.DataCoding.SMSC_DEFAULT, Alphabet.LATIN1: smpp.DataCoding.LATIN1,
                         Alphabet.UCS2: smpp.DataCoding.UCS2}
        source = channel.source
        self._source_ton_npi = (5, 0) if source and not source.isdigit() else (1, 1) if len(source) > 8 else (3, 0)

    def new_session(self, now: float) -> Session:
        c = self.channel
        return smpp.SmppSession(Role.CLIENT, now=now, window=c.window, response_timeout=c.response_timeout,
                                keepalive_interval=c.keepalive)

    def bind(self, session: Session, now: float, wall_time: float) -> None:
        c = self.channel
        session.bind(now, _SMPP_MODES[c.bind_mode], c.username, c.password,  # type: ignore[attr-defined]
                     system_type=c.system_type)

    def submits(self, message: OutboundText) -> list[Any]:
        alphabet, parts = self._parts(message.text, message.reference)
        ton, npi = self._source_ton_npi
        dest = message.to[1:] if message.to.startswith("+") else message.to
        return [
            smpp.SubmitSm(
                source_addr_ton=ton, source_addr_npi=npi, source_addr=self.channel.source,
                dest_addr_ton=1, dest_addr_npi=1, destination_addr=dest,
                esm_class=smpp.Esm.UDHI if part.total > 1 else 0,
                registered_delivery=1 if message.want_report else 0,
                data_coding=self._codings[alphabet], short_message=part.user_data,
            )
            for part in parts
        ]

    def submit_result(self, response: Any) -> SubmitResult:
        status = response.status
        if status == 0 and type(response) is smpp.SubmitSmResp:  # nearly every response: no formatting
            return SubmitResult(_OK, _SMPP_OK_CODE, "ok", response.message_id)
        code = f"0x{status:08X}"
        description = f"{smpp.status_name(status)}: {smpp.status_description(status)}"
        if status in _SMPP_THROTTLED:
            return SubmitResult(Outcome.THROTTLED, code, description)
        if status in _SMPP_TRANSIENT or status == 0:  # 0 in a generic_nack: nonsense, try again
            return SubmitResult(Outcome.TRANSIENT, code, description)
        return SubmitResult(Outcome.PERMANENT, code, description)

    def is_inbound(self, pdu: Any) -> bool:
        return type(pdu) is smpp.DeliverSm or type(pdu) is smpp.DataSm

    def inbound(self, pdu: Any) -> Receipt | MoPart | Ignored | None:
        kind = smpp.message_type(pdu)
        data = smpp.user_data(pdu)
        if kind == _SMPP_RECEIPT:
            tlv_id = find_tlv(pdu.tlvs, _RECEIPTED_MESSAGE_ID)
            try:
                text_id, stat, err = smpp_receipt_fields(data)
            except ReceiptError:
                text_id, stat, err = None, _smpp_state_stat(find_tlv(pdu.tlvs, _MESSAGE_STATE)), None
            # an empty receipted_message_id (a lone NUL) names nothing: the text's id, if any, does
            smsc_id = (tlv_id.strip(b"\0 ").decode("latin-1") if tlv_id else "") or text_id
            if smsc_id is None:
                return None  # no id anywhere: acknowledged and counted by the caller, never matched
            return Receipt(smsc_id, stat, err or "", stat == "DELIVRD", is_final(stat))
        if kind:  # the reserved types are no normal message either
            return Ignored(_SMPP_IGNORED.get(kind, f"reserved_0x{kind:02X}"))
        return _mo_part(pdu.source_addr, pdu.destination_addr, data, pdu.data_coding,
                        alphabet_of(pdu.data_coding), smpp.has_udh(pdu))

    def inbound_response(self, pdu: Any, ok: bool) -> Any:
        status = 0 if ok else smpp.Status.ESME_RX_T_APPN
        if type(pdu) is smpp.DataSm:
            return smpp.DataSmResp(sequence=pdu.sequence, status=status)
        return smpp.DeliverSmResp(pdu.sequence, status)  # positional: made once per message

    def resp_key(self, smsc_id: str) -> str:
        return normalise_message_id(smsc_id, self.channel.resp_id_base)  # type: ignore[arg-type]

    def dlr_key(self, smsc_id: str) -> str:
        return normalise_message_id(smsc_id, self.channel.dlr_id_base)  # type: ignore[arg-type]


def _smpp_state_stat(raw: bytes | None) -> str:
    if not raw:
        return "UNKNOWN"
    names = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
             1: "ENROUTE"}
    return names.get(raw[0], "UNKNOWN")


class CmppLink(Link):
    def __init__(self, channel: ChannelConfig) -> None:
        super().__init__(channel)
        self.version = 2 if channel.protocol == "cmpp2" else 3
        self.candidates = [Alphabet.ASCII, Alphabet.UCS2]
        self._formats = {Alphabet.ASCII: cmpp.MsgFmt.ASCII, Alphabet.UCS2: cmpp.MsgFmt.UCS2}
        self._alphabets = {cmpp.MsgFmt.ASCII: Alphabet.ASCII, cmpp.MsgFmt.UCS2: Alphabet.UCS2,
                           cmpp.MsgFmt.GB: Alphabet.GB18030}

    def new_session(self, now: float) -> Session:
        c = self.channel
        return cmpp.CmppSession(Role.CLIENT, self.version, now=now, window=c.window,
                                response_timeout=c.response_timeout, keepalive_interval=c.keepalive)

    def bind(self, session: Session, now: float, wall_time: float) -> None:
        c = self.channel
        session.login(now, c.username, c.password, _login_timestamp(wall_time))  # type: ignore[attr-defined]

    def submits(self, message: OutboundText) -> list[Any]:
        alphabet, parts = self._parts(message.text, message.reference)
        c = self.channel
        return [
            cmpp.Submit(
                pk_total=part.total, pk_number=part.index,
                registered_delivery=1 if message.want_report else 0, service_id=c.service_id,
                fee_user_type=2, tp_udhi=1 if part.total > 1 else 0, msg_fmt=self._formats[alphabet],
                msg_src=c.username, fee_type="01", fee_code="000000", src_id=c.source,
                dest_terminal_ids=[message.to.removeprefix("+")], msg_content=part.user_data,
            )
            for part in parts
        ]

    def submit_result(self, response: Any) -> SubmitResult:
        result = response.status
        code = str(result)
        if result == 0:  # nearly every response: its description (an enum lookup) is not needed
            return SubmitResult(_OK, code, "ok", str(response.msg_id))
        try:
            description = cmpp.Result(result).description
        except ValueError:
            description = "vendor-defined error" if 100 <= result <= 199 else "other error"
        if result == cmpp.Result.FLOW_CONTROL:
            return SubmitResult(Outcome.THROTTLED, code, description)
        if result in (cmpp.Result.DUPLICATE_SEQUENCE,) or result >= 14:
            return SubmitResult(Outcome.TRANSIENT, code, description)
        return SubmitResult(Outcome.PERMANENT, code, description)

    def is_inbound(self, pdu: Any) -> bool:
        return type(pdu) is cmpp.Deliver

    def inbound(self, pdu: Any) -> Receipt | MoPart | None:
        if pdu.registered_delivery == 1:
            try:
                report = cmpp.report_of(pdu, self.version)
            except RemoteProtocolError:
                report = None
            if report is None:
                return None  # acknowledged and counted by the caller, never matched
            stat = report.stat
            return Receipt(str(report.msg_id), stat, "", stat == "DELIVRD", stat != "ACCEPTD")
        return _mo_part(pdu.src_terminal_id, pdu.dest_id, pdu.msg_content, pdu.msg_fmt,
                        self._alphabets.get(pdu.msg_fmt), cmpp.has_udh(pdu))

    def inbound_response(self, pdu: Any, ok: bool) -> Any:
        return cmpp.DeliverResp(sequence=pdu.sequence, msg_id=pdu.msg_id, result=0 if ok else 9)

    def resp_key(self, smsc_id: str) -> str:
        return smsc_id  # the 64-bit Msg_Id as a decimal integer on both sides (E.2)

    dlr_key = resp_key


class SmgpLink(Link):
    def __init__(self, channel: ChannelConfig) -> None:
        super().__init__(channel)
        self.candidates = [Alphabet.ASCII, Alphabet.GB18030]
        self._formats = {Alphabet.ASCII: smgp.MsgFormat.ASCII, Alphabet.GB18030: smgp.MsgFormat.GB18030}
        self._alphabets = {smgp.MsgFormat.ASCII: Alphabet.ASCII, smgp.MsgFormat.UCS2: Alphabet.UCS2,
                           smgp.MsgFormat.GB18030: Alphabet.GB18030}

    def new_session(self, now: float) -> Session:
        c = self.channel
        return smgp.SmgpSession(Role.CLIENT, now=now, window=c.window, response_timeout=c.response_timeout,
                                keepalive_interval=c.keepalive)

    def bind(self, session: Session, now: float, wall_time: float) -> None:
        c = self.channel
        session.login(now, c.username, c.password, _login_timestamp(wall_time),  # type: ignore[attr-defined]
                      mode=_SMGP_MODES[c.bind_mode])

    def submits(self, message: OutboundText) -> list[Any]:
        alphabet, parts = self._parts(message.text, message.reference)
        c = self.channel
        pdus = []
        for part in parts:
            pdu = smgp.Submit(
                msg_type=smgp.MsgType.MT, need_report=1 if message.want_report else 0, service_id=c.service_id,
                fee_type="00", fee_code="000000", msg_format=self._formats[alphabet], src_term_id=c.source,
                dest_term_ids=[message.to.removeprefix("+")], msg_content=part.user_data,
            )
            if part.total > 1:
                pdu.tp_udhi = 1
                pdu.pk_total = part.total
                pdu.pk_number = part.index
            pdus.append(pdu)
        return pdus

    def submit_result(self, response: Any) -> SubmitResult:
        status = response.status
        code = str(status)
        if status == 0:  # nearly every response: no description needed
            return SubmitResult(_OK, code, "ok", smgp.msg_id_hex(response.msg_id))
        description = smgp.status_description(status)
        if status == smgp.Status.SYSTEM_BUSY:
            return SubmitResult(Outcome.THROTTLED, code, description)
        if status == smgp.Status.TOO_MANY_CONNECTIONS or status == 12:
            return SubmitResult(Outcome.TRANSIENT, code, description)
        return SubmitResult(Outcome.PERMANENT, code, description)

    def is_inbound(self, pdu: Any) -> bool:
        return type(pdu) is smgp.Deliver

    def inbound(self, pdu: Any) -> Receipt | MoPart | None:
        if pdu.is_report == 1:
            try:
                report = smgp.decode_report(pdu.msg_content)
            except RemoteProtocolError:
                return None  # acknowledged and counted by the caller, never matched
            return Receipt(smgp.msg_id_hex(report.msg_id), report.stat, report.err, report.delivered,
                           report.stat != "ACCEPTD")
        return _mo_part(pdu.src_term_id, pdu.dest_term_id, pdu.msg_content, pdu.msg_format,
                        self._alphabets.get(pdu.msg_format), pdu.udhi)

    def inbound_response(self, pdu: Any, ok: bool) -> Any:
        return smgp.DeliverResp(sequence=pdu.sequence, msg_id=pdu.msg_id, status=0 if ok else 1)

    def resp_key(self, smsc_id: str) -> str:
        return smsc_id  # 20 hex digits of the 10-octet BCD MsgID on both sides (E.4)

    dlr_key = resp_key


def link_for(channel: ChannelConfig) -> Link:
    if channel.protocol == "smpp":
        return SmppLink(channel)
    if channel.protocol in ("cmpp2", "cmpp3"):
        return CmppLink(channel)
    return SmgpLink(channel)
