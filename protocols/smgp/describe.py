"""JSON-friendly rendering of SMGP PDUs for ``smsgw decode`` and ``smsgw trace``: every
field, MsgIDs split into gateway / time / sequence, content decoded per MsgFormat with the
raw hex beside it (UDH parsed when TP_udhi is set, the report parsed when IsReport = 1),
TLVs by name with typed values. Never raises on a decoded PDU."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import RemoteProtocolError
from ..text import Alphabet
from ..tlv import Tlv
from .constants import (
    REPORT_ERRORS,
    U8_TAGS,
    CommandId,
    LoginMode,
    MsgFormat,
    MsgType,
    TlvTag,
    status_description,
    status_name,
)
from .msgid import parse_msg_id
from .pdus import Deliver, Pdu, Submit
from .report import decode_report

_ALPHABETS = {
    MsgFormat.ASCII: Alphabet.ASCII,
    MsgFormat.UCS2: Alphabet.UCS2,
    MsgFormat.GB18030: Alphabet.GB18030,
}
_ENUMS: dict[str, type[Any]] = {
    "msg_type": MsgType, "msg_format": MsgFormat, "login_mode": LoginMode,
}


def _name(enum: type[Any], value: int) -> str | None:
    try:
        return str(enum(value).name)
    except ValueError:
        return None


def describe_msg_id(raw: bytes) -> dict[str, Any]:
    """``{"hex": 20 digits, "gateway", "time" (MMDDHHMM), "sequence"}``."""
    out: dict[str, Any] = {"hex": raw.hex()}
    try:
        parts = parse_msg_id(raw)
    except RemoteProtocolError as exc:
        out["error"] = exc.message
    else:
        out.update(gateway=parts.gateway, time=parts.time, sequence=f"{parts.sequence:06d}")
    return out


def _plain(value: Any) -> Any:
    """UDH info (whatever dataclass / named tuple the text package returns) as JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _content(pdu: Submit | Deliver) -> dict[str, Any]:
    # imported here so that the codec and session never depend on the text package
    from ..text import UdhError, parse_udh
    from ..text import decode as decode_text

    data = pdu.msg_content
    out: dict[str, Any] = {"hex": data.hex(), "length": len(data)}
    if isinstance(pdu, Deliver) and pdu.is_report == 1:
        try:
            report = decode_report(data)
        except RemoteProtocolError as exc:
            out["report_error"] = exc.message
        else:
            out["report"] = {
                "msg_id": describe_msg_id(report.msg_id),
                "sub": report.sub,
                "dlvrd": report.dlvrd,
                "submit_date": report.submit_date,
                "done_date": report.done_date,
                "stat": report.stat,
                "err": report.err,
                "err_description": REPORT_ERRORS.get(report.err, "unknown err code"),
                "text": report.text,
            }
        return out
    if pdu.udhi:
        try:
            udh, data = parse_udh(data)
        except UdhError as exc:
            out["udh_error"] = str(exc)
        else:
            out["udh"] = _plain(udh)
    alphabet = _ALPHABETS.get(pdu.msg_format)  # type: ignore[call-overload]
    out["text"] = None if alphabet is None else decode_text(data, alphabet)
    return out


def describe_tlv(tlv: Tlv) -> dict[str, Any]:
    """Tag, name, raw hex and, for the tags of D.10, the typed value."""
    tag, value = tlv
    name = _name(TlvTag, tag)
    out: dict[str, Any] = {"tag": f"0x{tag:04X}", "name": name, "hex": value.hex()}
    if tag in U8_TAGS:
        if len(value) == 1:
            out["value"] = value[0]
    elif name is not None:
        out["value"] = value.rstrip(b"\0").decode("latin-1")
    return out


def describe(pdu: Pdu) -> dict[str, Any]:
    """Every field of ``pdu`` as JSON-friendly values."""
    cid = pdu.command_id
    out: dict[str, Any] = {
        "command": _name(CommandId, cid) or f"0x{cid:08X}",
        "command_id": f"0x{cid:08X}",
        "sequence": pdu.sequence,
    }
    if cid & 0x80000000:
        status = int(getattr(pdu, "status", 0))
        out.update(status=status, status_name=status_name(status),
                   status_description=status_description(status))
    for f in dataclasses.fields(pdu):
        name = f.name
        if name in ("sequence", "status"):
            continue
        value = getattr(pdu, name)
        if name == "msg_id":
            out[name] = describe_msg_id(value)
        elif isinstance(pdu, Submit | Deliver) and name == "msg_content":
            out[name] = _content(pdu)
        elif name == "tlvs":
            out[name] = [describe_tlv(t) for t in value]
        elif isinstance(value, bytes):
            out[name] = value.hex()
        else:
            out[name] = value
            if name in _ENUMS:
                out[f"{name}_name"] = _name(_ENUMS[name], value)
            elif name in ("client_version", "server_version"):
                out[f"{name}_text"] = f"{value >> 4}.{value & 0x0F}"
            elif name == "timestamp":
                out[f"{name}_text"] = f"{value:010d}"
    return out
