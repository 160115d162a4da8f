"""JSON-friendly rendering of SMPP PDUs for ``smsgw decode`` and ``smsgw trace``: every
field, esm_class / registered_delivery / data_coding / TON / NPI explained, the message
decoded per data_coding with the raw hex beside it (UDH parsed when UDHI is set), TLVs by
name with typed values, and the status name and description of responses. Never raises on
a decoded PDU."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..text import Alphabet, UdhError, parse_udh
from ..text import decode as decode_text
from ..tlv import Tlv
from .constants import (
    ESM_MODES,
    ESM_TYPES_MO,
    ESM_TYPES_MT,
    RECEIPT_REQUESTS,
    RESPONSE_BIT,
    CommandId,
    DataCoding,
    Esm,
    MessageState,
    Tag,
    command_name,
    status_description,
    status_name,
    tag_name,
)
from .helpers import tlv_value
from .pdus import DataSm, DeliverSm, SmppPdu

TON = {0: "unknown", 1: "international", 2: "national", 3: "network specific",
       4: "subscriber number", 5: "alphanumeric", 6: "abbreviated"}
NPI = {0: "unknown", 1: "ISDN (E.163/E.164)", 3: "data (X.121)", 4: "telex (F.69)",
       6: "land mobile (E.212)", 8: "national", 9: "private", 10: "ERMES", 14: "Internet (IP)",
       18: "WAP client id"}
_ALPHABETS = {0: Alphabet.GSM7, 1: Alphabet.ASCII, 3: Alphabet.LATIN1, 8: Alphabet.UCS2}
_MO_PDUS = (DeliverSm, DataSm)


def alphabet_of(data_coding: int) -> Alphabet | None:
    """The alphabet to show text in, or ``None`` for binary / unsupported codings (hex only).
    GSM DCS 0xF0-0xFF: bit 2 clear is GSM 7-bit."""
    if data_coding in _ALPHABETS:
        return _ALPHABETS[data_coding]
    if data_coding & 0xF0 == 0xF0 and not data_coding & 0x04:
        return Alphabet.GSM7
    return None


def data_coding_name(data_coding: int) -> str:
    try:
        return DataCoding(data_coding).name.lower()
    except ValueError:
        if data_coding & 0xF0 == 0xF0:
            kind = "8-bit data" if data_coding & 0x04 else "GSM 7-bit"
            return f"GSM DCS {kind}, message class {data_coding & 0x03}"
        if 0xC0 <= data_coding <= 0xDF:
            return "GSM message waiting indication group"
        return "reserved"


def describe_esm_class(value: int, mobile_originated: bool) -> dict[str, Any]:
    types = ESM_TYPES_MO if mobile_originated else ESM_TYPES_MT
    kind = value & Esm.TYPE_MASK
    return {
        "value": value,
        "mode": ESM_MODES[value & Esm.MODE_MASK],
        "type": types.get(kind, f"reserved (0x{kind:02X})"),
        "udhi": bool(value & Esm.UDHI),
        "reply_path": bool(value & Esm.REPLY_PATH),
    }


def describe_registered_delivery(value: int) -> dict[str, Any]:
    return {
        "value": value,
        "smsc_receipt": RECEIPT_REQUESTS[value & 0x03],
        "sme_delivery_ack": bool(value & 0x04),
        "sme_manual_ack": bool(value & 0x08),
        "intermediate_notification": bool(value & 0x10),
    }


def describe_content(data: bytes, data_coding: int, udhi: bool) -> dict[str, Any]:
    """The octets as hex, the UDH parsed when ``udhi``, and the text per ``data_coding``
    (absent for binary codings)."""
    out: dict[str, Any] = {"hex": data.hex(), "length": len(data)}
    rest = data
    if udhi:
        try:
            info, rest = parse_udh(data)
        except UdhError as exc:
            out["udh_error"] = str(exc)
        else:
            if info is not None:
                out["udh"] = {
                    "concat": dict(zip(("reference", "total", "index"), info.concat, strict=True))
                    if info.concat else None,
                    "ports": dict(zip(("destination", "originator"), info.ports, strict=True))
                    if info.ports else None,
                    "elements": [{"iei": iei, "data": ie.hex()} for iei, ie in info.elements],
                }
    alphabet = alphabet_of(data_coding)
    if alphabet is not None:
        out["alphabet"] = alphabet.value
        out["text"] = decode_text(rest, alphabet)
    return out


def describe_tlv(tlv: Tlv, data_coding: int = 0, udhi: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"tag": f"0x{tlv.tag:04X}", "name": tag_name(tlv.tag)}
    value = tlv_value(tlv)
    if tlv.tag == Tag.MESSAGE_PAYLOAD:
        out["value"] = describe_content(tlv.value, data_coding, udhi)
    elif isinstance(value, bytes):
        out["value"] = value.hex()
    elif isinstance(value, tuple):
        out["value"] = {"network_type": value[0], "error_code": value[1]}
    else:
        out["value"] = value
    if tlv.tag == Tag.MESSAGE_STATE and isinstance(value, int):
        out["state"] = _enum_name(MessageState, value)
    return out


def _enum_name(enum: Any, value: int) -> str | None:
    try:
        return str(enum(value).name)
    except ValueError:
        return None


def describe(pdu: SmppPdu) -> dict[str, Any]:
    """Every field of ``pdu`` as JSON-friendly values, with explanations beside them."""
    command_id = pdu.command_id
    out: dict[str, Any] = {
        "command": command_name(command_id),
        "command_id": f"0x{command_id:08X}",
        "sequence": pdu.sequence,
    }
    if command_id & RESPONSE_BIT:
        status = getattr(pdu, "status", 0)
        out["status"] = {"code": status, "name": status_name(status),
                         "description": status_description(status)}
    data_coding = getattr(pdu, "data_coding", 0)
    esm_class = getattr(pdu, "esm_class", 0)
    udhi = bool(esm_class & Esm.UDHI)
    for f in dataclasses.fields(pdu):
        name, value = f.name, getattr(pdu, f.name)
        if name in ("sequence", "status"):
            continue
        if name == "esm_class":
            out[name] = describe_esm_class(value, isinstance(pdu, _MO_PDUS))
        elif name == "registered_delivery":
            out[name] = describe_registered_delivery(value)
        elif name == "data_coding":
            out[name] = {"value": value, "name": data_coding_name(value)}
        elif name == "short_message":
            out[name] = describe_content(value, data_coding, udhi)
        elif name.endswith("_ton") and isinstance(value, int):
            out[name] = {"value": value, "name": TON.get(value, "reserved")}
        elif name.endswith("_npi") and isinstance(value, int):
            out[name] = {"value": value, "name": NPI.get(value, "reserved")}
        elif name == "message_state":
            out[name] = {"value": value, "name": _enum_name(MessageState, value)}
        elif name == "interface_version":
            out[name] = f"0x{value:02X}"
        elif name == "tlvs":
            out[name] = [describe_tlv(t, data_coding, udhi) for t in value]
        elif name in ("dest_addresses", "unsuccess_smes"):
            out[name] = [dataclasses.asdict(item) for item in value]
        else:
            out[name] = value
    if command_id == CommandId.DELIVER_SM or command_id == CommandId.DATA_SM:
        out["is_receipt"] = (esm_class & Esm.TYPE_MASK) == Esm.RECEIPT
    return out
