"""SMPP 3.4 simulated SMSC: system_id/password binds, message ids as decimal or hex strings
(with the hex/decimal skew between response and receipt that real SMSCs show), Appendix B
receipts with receipted_message_id and message_state TLVs, MO in GSM 7-bit or UCS-2 (long
ones with a UDH)."""

from __future__ import annotations

import itertools
from typing import Any

from protocols import smpp
from protocols.receipts import format_smpp_receipt
from protocols.session import Role, Session
from protocols.smpp import DataCoding, DeliverSm, Esm, GenericNack, MessageState, Status, SubmitSm, SubmitSmResp, Tag
from protocols.smpp.describe import alphabet_of
from protocols.text import Alphabet, choose_alphabet, decode, parse_udh, split
from protocols.text.udh import UdhError
from protocols.tlv import Tlv

from .adapter import Accepted, Adapter, SubmitInfo, stamp

_STATES = {
    "DELIVRD": MessageState.DELIVERED, "EXPIRED": MessageState.EXPIRED, "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE, "ACCEPTD": MessageState.ACCEPTED, "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED, "ENROUTE": MessageState.ENROUTE,
}
_ERR = {"DELIVRD": "000", "EXPIRED": "001", "UNDELIV": "001", "REJECTD": "002", "DELETED": "003", "UNKNOWN": "999"}
_CODINGS = {Alphabet.GSM7: DataCoding.SMSC_DEFAULT, Alphabet.UCS2: DataCoding.UCS2}


def format_id(number: int, style: str) -> str:
    return f"{number:08X}" if style == "hex" else str(number)


class SmppAdapter(Adapter):
    name = "smpp"
    throttle_status = Status.ESME_RTHROTTLED
    window_status = Status.ESME_RTHROTTLED
    auth_status = Status.ESME_RINVPASWD
    too_many_binds_status = Status.ESME_RBINDFAIL
    deliver_command_id = smpp.CommandId.DELIVER_SM

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._numbers = itertools.count(0x10000)

    def new_session(self, now: float) -> Session:
        return smpp.SmppSession(
            Role.SERVER,
            **self.session_options(now),
        )

    def bind_account(self, request: Any) -> str:
        return str(request.system_id)

    def accept_bind(self, session: Session, request: Any, secret: str) -> bool:
        if request.password != secret:
            session.reject_bind(request, Status.ESME_RINVPASWD)  # type: ignore[attr-defined]
            return False
        session.accept_bind(request, system_id="SMSCSIM")  # type: ignore[attr-defined]
        return True

    def encode(self, pdu: Any) -> bytes:
        return smpp.encode(pdu)

    def is_submit(self, pdu: Any) -> bool:
        return type(pdu) is SubmitSm

    def submit_info(self, pdu: SubmitSm) -> SubmitInfo:
        data = smpp.user_data(pdu)
        body, segment = data, None
        if smpp.has_udh(pdu):
            try:
                udh, body = parse_udh(data)
            except UdhError:
                udh = None
            if udh is not None and udh.concat is not None:
                segment = udh.concat
        else:
            total = pdu.get_tlv(Tag.SAR_TOTAL_SEGMENTS)
            if total:
                ref = pdu.get_tlv(Tag.SAR_MSG_REF_NUM) or b"\0\0"
                index = pdu.get_tlv(Tag.SAR_SEGMENT_SEQNUM) or b"\1"
                segment = (int.from_bytes(ref, "big"), total[0], index[0])
        alphabet = alphabet_of(pdu.data_coding)
        return SubmitInfo(
            source=pdu.source_addr,
            dests=[pdu.destination_addr],
            data=body,
            coding=pdu.data_coding,
            text=decode(body, alphabet) if alphabet else body.hex(),
            wants_report=bool(pdu.registered_delivery & 0x03),
            segment=segment,
            fields={"esm_class": pdu.esm_class, "registered_delivery": pdu.registered_delivery,
                    "sar": segment is not None and not smpp.has_udh(pdu)},
        )

    def new_message_id(self, wall_time: float) -> Accepted:
        number = next(self._numbers)
        return Accepted(number, format_id(number, self.config.id_format), wall_time)

    def submit_response(self, request: Any, status: int, accepted: Accepted | None) -> Any:
        if accepted is None:
            return SubmitSmResp(sequence=request.sequence, status=status)
        return SubmitSmResp(sequence=request.sequence, message_id=accepted.text_id)

    def receipt(self, info: SubmitInfo, accepted: Accepted, stat: str, done_time: float) -> Any:
        if info.fields.get("registered_delivery", 1) & 0x03 == 0x02 and stat == "DELIVRD":
            return None  # receipt on failure only
        receipt_id = format_id(accepted.wire_id, self.config.dlr_id_format or self.config.id_format)
        text = format_smpp_receipt(
            receipt_id,
            stat,
            submit_date=stamp(accepted.submit_time, "%y%m%d%H%M"),
            done_date=stamp(done_time, "%y%m%d%H%M"),
            err=_ERR.get(stat, "999"),
            text=info.text[:20],
        )
        return DeliverSm(
            source_addr=info.dests[0] if info.dests else "",
            destination_addr=info.source,
            esm_class=Esm.RECEIPT,
            short_message=text.encode("ascii", "replace"),
            tlvs=[
                Tlv(Tag.RECEIPTED_MESSAGE_ID, receipt_id.encode() + b"\0"),
                Tlv(Tag.MESSAGE_STATE, bytes((_STATES.get(stat, MessageState.UNKNOWN),))),
            ],
        )

    def mo_messages(self, source: str, dest: str, text: str, reference: int) -> list[Any]:
        alphabet = choose_alphabet(text, [Alphabet.GSM7, Alphabet.UCS2])
        parts = split(text, alphabet, reference=reference & 0xFF)
        return [
            DeliverSm(
                source_addr=source,
                destination_addr=dest,
                esm_class=Esm.UDHI if part.total > 1 else 0,
                data_coding=_CODINGS[alphabet],
                short_message=part.user_data,
            )
            for part in parts
        ]

    def nack_without_sequence(self) -> bytes:
        """The misbehaving-SMSC zoo: a generic_nack that names no request."""
        return smpp.encode(GenericNack(sequence=0, status=Status.ESME_RSYSERR))
