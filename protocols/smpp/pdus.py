"""SMPP 3.4 PDUs (PROTOCOLS.md A.3) as plain dataclasses, one per PDU, fields named after
the spec.

Every PDU has ``sequence``; every response also ``status`` (the header's command_status;
requests must carry 0 there and the decoder ignores it). C-strings are ``str`` (latin-1,
so decoding never fails; the encoder enforces the spec maxima), short_message is
``bytes`` with sm_length implied by it, and every PDU with a body keeps its TLVs in wire
order as ``list[Tlv]`` (unknown tags included) so decode -> encode is byte-exact.
Derived counts (sm_length, number_of_dests, no_unsuccess) are not fields.

Error responses: bind_*_resp, submit_sm_resp, submit_multi_resp, data_sm_resp and
query_sm_resp are written header-only when ``status != 0`` and there are no TLVs (3.4
§4.4.2, E.11); with TLVs (e.g. data_sm_resp's delivery_failure_reason) the body is
written. Any response decodes from a header-only PDU to its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..tlv import Tlv, WithTlvs
from .constants import INTERFACE_VERSION, CommandId


@dataclass(slots=True)
class SmppPdu:
    """Base of every PDU: the sequence_number of the header."""

    command_id: ClassVar[int]
    sequence: int = 0


@dataclass(slots=True)
class SmppResponse(SmppPdu):
    """Base of every response: command_status."""

    status: int = 0




# --------------------------------------------------------------------- header only


@dataclass(slots=True)
class GenericNack(SmppResponse):
    command_id: ClassVar[int] = CommandId.GENERIC_NACK


@dataclass(slots=True)
class Unbind(SmppPdu):
    command_id: ClassVar[int] = CommandId.UNBIND


@dataclass(slots=True)
class UnbindResp(SmppResponse):
    command_id: ClassVar[int] = CommandId.UNBIND_RESP


@dataclass(slots=True)
class EnquireLink(SmppPdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK


@dataclass(slots=True)
class EnquireLinkResp(SmppResponse):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK_RESP


@dataclass(slots=True)
class CancelSmResp(SmppResponse):
    command_id: ClassVar[int] = CommandId.CANCEL_SM_RESP


@dataclass(slots=True)
class ReplaceSmResp(SmppResponse):
    command_id: ClassVar[int] = CommandId.REPLACE_SM_RESP


# ------------------------------------------------------------------------ binding


@dataclass(slots=True)
class _Bind(SmppPdu, WithTlvs):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class BindTransmitter(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER


@dataclass(slots=True)
class BindReceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER


@dataclass(slots=True)
class BindTransceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER


@dataclass(slots=True)
class _BindResp(SmppResponse, WithTlvs):
    system_id: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class BindTransmitterResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(slots=True)
class BindReceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER_RESP


@dataclass(slots=True)
class BindTransceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(slots=True)
class Outbind(SmppPdu, WithTlvs):
    command_id: ClassVar[int] = CommandId.OUTBIND
    system_id: str = ""
    password: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


# ----------------------------------------------------------------------- messages


@dataclass(slots=True)
class _ShortMessage(SmppPdu, WithTlvs):
    """The 18 mandatory fields shared by submit_sm and deliver_sm (A.3.4, A.3.6)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class SubmitSm(_ShortMessage):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM


@dataclass(slots=True)
class DeliverSm(_ShortMessage):
    command_id: ClassVar[int] = CommandId.DELIVER_SM


@dataclass(slots=True)
class _MessageIdResp(SmppResponse, WithTlvs):
    message_id: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class SubmitSmResp(_MessageIdResp):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM_RESP


@dataclass(slots=True)
class DeliverSmResp(_MessageIdResp):
    """message_id is unused (always written as a single NUL by a 3.4 peer)."""

    command_id: ClassVar[int] = CommandId.DELIVER_SM_RESP


@dataclass(slots=True)
class DataSmResp(_MessageIdResp):
    command_id: ClassVar[int] = CommandId.DATA_SM_RESP


@dataclass(slots=True)
class DataSm(SmppPdu, WithTlvs):
    """User data travels in the message_payload TLV."""

    command_id: ClassVar[int] = CommandId.DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class DestAddress:
    """One submit_multi destination: an SME address (dest_flag 1) or a distribution list
    name (dest_flag 2); the fields of the other kind are not on the wire."""

    dest_flag: int = 1
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    dl_name: str = ""


@dataclass(slots=True)
class SubmitMulti(SmppPdu, WithTlvs):
    command_id: ClassVar[int] = CommandId.SUBMIT_MULTI
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: list[DestAddress] = field(default_factory=list)
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class UnsuccessSme:
    """A destination of a submit_multi that was not accepted."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    error_status_code: int = 0


@dataclass(slots=True)
class SubmitMultiResp(SmppResponse, WithTlvs):
    command_id: ClassVar[int] = CommandId.SUBMIT_MULTI_RESP
    message_id: str = ""
    unsuccess_smes: list[UnsuccessSme] = field(default_factory=list)
    tlvs: list[Tlv] = field(default_factory=list)


# -------------------------------------------------------- query / cancel / replace


@dataclass(slots=True)
class QuerySm(SmppPdu, WithTlvs):
    command_id: ClassVar[int] = CommandId.QUERY_SM
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class QuerySmResp(SmppResponse, WithTlvs):
    command_id: ClassVar[int] = CommandId.QUERY_SM_RESP
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class CancelSm(SmppPdu, WithTlvs):
    command_id: ClassVar[int] = CommandId.CANCEL_SM
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class ReplaceSm(SmppPdu, WithTlvs):
    """Follows the spec (Table 4-26): no service_type (Kannel's extra one is a CONFLICT)."""

    command_id: ClassVar[int] = CommandId.REPLACE_SM
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: list[Tlv] = field(default_factory=list)


@dataclass(slots=True)
class AlertNotification(SmppPdu, WithTlvs):
    command_id: ClassVar[int] = CommandId.ALERT_NOTIFICATION
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""
    tlvs: list[Tlv] = field(default_factory=list)


PDU_CLASSES: dict[int, type[SmppPdu]] = {
    cls.command_id: cls
    for cls in (
        GenericNack, BindReceiver, BindReceiverResp, BindTransmitter, BindTransmitterResp,
        QuerySm, QuerySmResp, SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp, Unbind,
        UnbindResp, ReplaceSm, ReplaceSmResp, CancelSm, CancelSmResp, BindTransceiver,
        BindTransceiverResp, Outbind, EnquireLink, EnquireLinkResp, SubmitMulti,
        SubmitMultiResp, AlertNotification, DataSm, DataSmResp,
    )
}

#: Responses that carry no body when command_status != 0 (3.4 §4.1.2.1, §4.4.2; E.11).
BODY_OMITTED_ON_ERROR = frozenset({
    CommandId.BIND_RECEIVER_RESP, CommandId.BIND_TRANSMITTER_RESP,
    CommandId.BIND_TRANSCEIVER_RESP, CommandId.SUBMIT_SM_RESP, CommandId.SUBMIT_MULTI_RESP,
    CommandId.DATA_SM_RESP, CommandId.QUERY_SM_RESP,
})
