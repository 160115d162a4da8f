"""JSON-friendly rendering of a CMPP PDU for ``smsgw decode`` and ``smsgw trace``.

Every field of the layout in use is shown (fields of the other version are left out);
Msg_Id is split into its parts beside its integer and hex forms; Msg_Content is decoded
per Msg_Fmt (0 ASCII, 8 UCS-2, 15 GB18030; 4 and others shown as hex only) after its UDH
when TP_udhi says there is one; a DELIVER with Registered_Delivery = 1 shows the parsed
status report instead of text.
"""

from __future__ import annotations

from typing import Any

from ..errors import RemoteProtocolError
from ..text import Alphabet, UdhError, UdhInfo, parse_udh
from ..text import decode as decode_text
from .constants import (
    RESPONSE_BIT,
    cancel_status_description,
    command_name,
    connect_status_description,
    connect_status_name,
    layout_version,
    result_description,
    result_name,
    stat_description,
)
from .msgid import MsgId
from .pdus import CancelResp, ConnectResp, Deliver, DeliverResp, Pdu, Submit, SubmitResp, has_udh
from .report import decode_report
from .schema import SCHEMAS

_ALPHABETS = {0: Alphabet.ASCII, 8: Alphabet.UCS2, 15: Alphabet.GB18030}
_FORMAT_NAMES = {0: "ASCII", 3: "SIM write", 4: "binary", 8: "UCS2", 15: "GB"}
_FIELDS: dict[int, dict[int, tuple[str, ...]]] = {
    layout: {
        cid: tuple(sc.name for sc in s.subcons if sc.name and sc.name not in ("dest_usr_tl", "msg_length"))
        for cid, s in schemas.items()
    }
    for layout, schemas in SCHEMAS.items()
}


def describe(pdu: Pdu, version: int = 3) -> dict[str, Any]:
    layout = layout_version(version)
    out: dict[str, Any] = {
        "protocol": f"CMPP {layout}.0",
        "command": command_name(pdu.command_id),
        "command_id": f"0x{pdu.command_id:08X}",
        "sequence": pdu.sequence,
    }
    if pdu.command_id & RESPONSE_BIT:
        out.update(_status(pdu))
    for name in _FIELDS[layout][pdu.command_id]:
        value = getattr(pdu, name)
        if name == "msg_id":
            out[name] = describe_msg_id(value)
        elif name.startswith("authenticator_"):
            out[name] = value.hex()
        elif name == "version":
            out[name] = {"value": value, "text": f"{value >> 4}.{value & 0xF}"}
        elif name == "timestamp":
            out[name] = f"{value:010d}"
        elif name == "msg_content":
            assert isinstance(pdu, Submit | Deliver)
            out["msg_fmt_name"] = _FORMAT_NAMES.get(pdu.msg_fmt, f"unknown ({pdu.msg_fmt})")
            out[name] = _content(pdu, layout)
        else:
            out[name] = value
    return out


def describe_msg_id(value: int) -> dict[str, Any]:
    """A Msg_Id as integer, 16 hex digits and its C.12 parts."""
    parts = MsgId.from_int(value)
    return {
        "int": value,
        "hex": f"{value:016X}",
        "month": parts.month,
        "day": parts.day,
        "hour": parts.hour,
        "minute": parts.minute,
        "second": parts.second,
        "gateway": parts.gateway_code,
        "sequence": parts.sequence,
    }


def _status(pdu: Pdu) -> dict[str, Any]:
    if isinstance(pdu, ConnectResp):
        return {
            "status": pdu.status,
            "status_name": connect_status_name(pdu.status),
            "status_description": connect_status_description(pdu.status),
        }
    if isinstance(pdu, SubmitResp | DeliverResp):
        return {
            "status": pdu.result,
            "status_name": result_name(pdu.result),
            "status_description": result_description(pdu.result),
        }
    if isinstance(pdu, CancelResp):
        return {"status": pdu.success_id, "status_description": cancel_status_description(pdu.success_id)}
    return {"status": 0}  # TERMINATE_RESP, ACTIVE_TEST_RESP, QUERY_RESP carry no status


def _content(pdu: Submit | Deliver, layout: int) -> dict[str, Any]:
    data = pdu.msg_content
    out: dict[str, Any] = {"length": len(data), "hex": data.hex()}
    if isinstance(pdu, Deliver) and pdu.registered_delivery == 1:
        try:
            report = decode_report(data, layout)
        except RemoteProtocolError as exc:
            out["report_error"] = exc.message
            return out
        out["report"] = {
            "msg_id": describe_msg_id(report.msg_id),
            "stat": report.stat,
            "stat_description": stat_description(report.stat),
            "submit_time": report.submit_time,
            "done_time": report.done_time,
            "dest_terminal_id": report.dest_terminal_id,
            "smsc_sequence": report.smsc_sequence,
            "layout": f"CMPP {report.layout}.0 ({len(data)} octets)",
            "layout_mismatch": report.layout_mismatch,
        }
        return out
    body = data
    if has_udh(pdu):
        try:
            udh, body = parse_udh(data)
        except UdhError as exc:
            out["udh_error"] = str(exc)
            return out
        if udh is not None:
            out["udh"] = _udh(udh)
    alphabet = _ALPHABETS.get(pdu.msg_fmt)
    if alphabet is not None:
        out["text"] = decode_text(body, alphabet)
    return out


def _udh(info: UdhInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"elements": [{"iei": iei, "data": data.hex()} for iei, data in info.elements]}
    if info.concat is not None:
        reference, total, index = info.concat
        out["concat"] = {"reference": reference, "total": total, "index": index}
    if info.ports is not None:
        out["ports"] = {"destination": info.ports[0], "originator": info.ports[1]}
    return out

