"""Live PDU tracing for ``smsgw trace CHANNEL`` and ``GET /v1/channels/{name}/trace``.

A subscriber registers a tracer on the channel (``Channel.add_tracer``); every session of the
channel then calls it with each PDU it writes or decodes. The tracer runs inside the channel's
own code path, so it only appends ``(time, direction, session, sequence, pdu)`` to the
subscriber's bounded buffer and wakes the consumer: no decoding, no I/O, no await. When the
buffer is full (the client reads too slowly) the PDU is dropped and counted; the stream says
so with a ``{"dropped": N}`` line. Tracing never slows a channel down.

The consumer (the HTTP response body) describes the PDUs with the protocol's ``describe()``
and writes one JSON line per PDU::

    {"time": 1718000000.123, "session": 0, "direction": "out", "command": "submit_sm",
     "sequence": 7, "status": null, "fields": {"source_addr": "10690000", ...}}

``status`` is the response's status code (``status_name`` beside it when the protocol names
it) and null for requests; ``fields`` is a compact subset: addresses, message ids, text, a
receipt's stat, concatenation. Passwords are never shown. Other lines: the first one,
``{"subscribed": CHANNEL, "protocol", "sessions": [...], "time"}``; ``{"dropped": N, "time"}``;
and empty lines every few seconds as keep-alive (they also let the server notice a client
that went away). The stream ends when the gateway stops.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from .channel import Channel

BUFFER = 2000  # PDUs held per subscriber before dropping
HEARTBEAT = 5.0  # seconds between keep-alive lines
STALE = 120.0  # a subscriber not read for this long while its buffer is full is detached
_BATCH = 200  # PDUs described per chunk written


def describer(protocol: str) -> Callable[[Any], dict[str, Any]]:
    """The protocol's ``describe`` for a channel's ``protocol`` setting."""
    if protocol == "smpp":
        from protocols import smpp

        return smpp.describe  # type: ignore[no-any-return]
    if protocol in ("cmpp2", "cmpp3"):
        from protocols import cmpp

        version = 2 if protocol == "cmpp2" else 3
        return lambda pdu: cmpp.describe(pdu, version=version)  # type: ignore[no-any-return]
    from protocols import smgp

    return smgp.describe  # type: ignore[no-any-return]


# --------------------------------------------------------------------- compact fields
_ADDRESSES = (
    "system_id", "client_id", "source_addr", "src_id", "src_terminal_id", "src_term_id", "destination_addr",
    "dest_terminal_ids", "dest_term_id", "dest_term_ids", "dest_id", "dest_addresses", "service_id",
)
_IDS = ("message_id", "msg_id")
_CONTENT = ("short_message", "msg_content")
_FLAGS = ("registered_delivery", "need_report", "is_report", "is_receipt", "pk_total", "pk_number",
          "login_mode", "bind_mode", "version", "interface_version", "message_state", "error_code")
_TLVS = {"receipted_message_id", "message_state", "message_payload", "network_error_code"}
_SECRET = ("password", "secret")


def _plain(value: Any) -> Any:
    """A described value reduced to what a trace line needs."""
    if isinstance(value, dict):
        if "hex" in value and ("int" in value or "gateway" in value):  # a CMPP / SMGP Msg_Id
            return value["hex"]
        if "text" in value and "value" in value:  # CMPP version {"value", "text"}
            return value["text"]
        if "value" in value:  # {"value", "name"} of TON / NPI / registered_delivery / data_coding
            return value["value"]
    return value


def _content(value: dict[str, Any], out: dict[str, Any]) -> None:
    if "report" in value and isinstance(value["report"], dict):
        report = value["report"]
        out["report"] = {k: _plain(report[k]) for k in ("msg_id", "stat", "err", "dest_terminal_id")
                         if report.get(k) not in (None, "")}
    if "text" in value:
        out["text"] = value["text"]
    elif "hex" in value and "report" not in value:
        out["hex"] = value["hex"]
    udh = value.get("udh")
    if isinstance(udh, dict) and isinstance(udh.get("concat"), dict):
        concat = udh["concat"]
        out["concat"] = f"{concat['index']}/{concat['total']} ref {concat['reference']}"


def compact(described: dict[str, Any]) -> dict[str, Any]:
    """The key fields of a ``describe()`` result: addresses, ids, text, report, flags."""
    out: dict[str, Any] = {}
    for name in (*_ADDRESSES, *_IDS):
        value = described.get(name)
        if value not in (None, "", [], ()):
            out[name] = _plain(value)
    for name in _CONTENT:
        value = described.get(name)
        if isinstance(value, dict):
            _content(value, out)
    for name in _FLAGS:
        value = described.get(name)
        if value not in (None, "", [], ()):
            out[name] = _plain(value)
    report = described.get("report")  # SMGP describes the report beside msg_content
    if isinstance(report, dict) and "report" not in out:
        out["report"] = {k: _plain(v) for k, v in report.items() if k in ("msg_id", "stat", "err") and v}
    for tlv in described.get("tlvs") or ():
        if not isinstance(tlv, dict):
            continue
        name = str(tlv.get("name") or "").lower()
        if name in _TLVS:
            value = tlv.get("value")
            if isinstance(value, dict):
                _content(value, out)
            else:
                out[name] = value if value is not None else tlv.get("hex")
    for name in list(out):
        if any(word in name for word in _SECRET):
            del out[name]
    return out


def status_of(described: dict[str, Any]) -> tuple[int | None, str | None]:
    """(code, name) of a response's status; (None, None) for a request."""
    status = described.get("status")
    if isinstance(status, dict):  # SMPP: {"code", "name", "description"}
        return status.get("code"), status.get("name")
    if isinstance(status, int):
        return status, described.get("status_name")
    return None, None


# ----------------------------------------------------------------------- subscribers
class Subscription:
    """One client's bounded buffer of traced PDUs; ``tracer`` is what the channel calls."""

    def __init__(self, channel: Channel, size: int = BUFFER) -> None:
        self.channel = channel
        self.size = size
        self.buffer: collections.deque[tuple[float, str, int, int, Any]] = collections.deque()
        self.dropped = 0
        self.dropped_total = 0
        self.last_read = time.monotonic()
        self.attached = False
        self._ready = trio.Event()

    def tracer(self, direction: str, pdu: Any, session: int) -> None:
        if len(self.buffer) >= self.size:
            self.dropped += 1
            self.dropped_total += 1
            if time.monotonic() - self.last_read > STALE:
                self.detach()  # the consumer is gone without closing: stop costing anything
            return
        # the sequence is read now: a resent PDU object gets a new one later
        self.buffer.append((time.time(), direction, session, getattr(pdu, "sequence", 0), pdu))
        self._ready.set()

    def attach(self) -> None:
        if not self.attached:
            self.attached = True
            self.channel.add_tracer(self.tracer)

    def detach(self) -> None:
        if self.attached:
            self.attached = False
            self.channel.remove_tracer(self.tracer)
        self._ready.set()

    async def wait(self, timeout: float) -> None:
        """Until something is buffered, ``timeout`` passed, or the subscription ended."""
        if not self.buffer:
            with trio.move_on_after(timeout):
                await self._ready.wait()
        self._ready = trio.Event()

    def take(self, limit: int) -> list[tuple[float, str, int, int, Any]]:
        self.last_read = time.monotonic()
        items = []
        while self.buffer and len(items) < limit:
            items.append(self.buffer.popleft())
        return items


class TraceHub:
    """The subscriptions of a running daemon; ``close`` ends every stream (graceful stop)."""

    def __init__(self, channels: dict[str, Channel]) -> None:
        self.channels = channels
        self.subscriptions: set[Subscription] = set()
        self.dropped = 0  # PDUs dropped for slow subscribers, all time (metrics)
        self.closed = trio.Event()

    def close(self) -> None:
        self.closed.set()
        for sub in list(self.subscriptions):
            sub.detach()

    def status_line(self, channel: Channel) -> dict[str, Any]:
        return {"subscribed": channel.name, "protocol": channel.config.protocol, "time": round(time.time(), 3),
                "sessions": [{"session": s.index, "state": s.state} for s in channel.slots]}

    async def stream(self, name: str, *, buffer: int = BUFFER,
                     heartbeat: float = HEARTBEAT) -> AsyncIterator[bytes]:
        """The JSON lines of one subscriber; the tracer is registered only while this runs."""
        channel = self.channels[name]
        describe = describer(channel.config.protocol)
        sub = Subscription(channel, buffer)
        self.subscriptions.add(sub)
        sub.attach()
        try:
            yield _line(self.status_line(channel))
            while not self.closed.is_set() and sub.attached:
                await sub.wait(heartbeat)
                chunk: list[bytes] = []
                if sub.dropped:
                    chunk.append(_line({"dropped": sub.dropped, "time": round(time.time(), 3)}))
                    self.dropped += sub.dropped
                    sub.dropped = 0
                for item in sub.take(_BATCH):
                    chunk.append(_line(pdu_line(describe, *item)))
                yield b"".join(chunk) if chunk else b"\n"
        finally:
            sub.detach()
            self.subscriptions.discard(sub)


def pdu_line(describe: Callable[[Any], dict[str, Any]], at: float, direction: str, session: int,
             sequence: int, pdu: Any) -> dict[str, Any]:
    try:
        described = describe(pdu)
    except Exception as exc:  # describe never raises on a decoded PDU; be safe anyway
        described = {"command": type(pdu).__name__, "error": f"describe failed: {exc}"}
    code, name = status_of(described)
    line: dict[str, Any] = {"time": round(at, 3), "session": session, "direction": direction,
                            "command": described.get("command"), "sequence": sequence, "status": code}
    if name:
        line["status_name"] = name
    line["fields"] = compact(described)
    return line


#: characters JSON leaves raw in a string (ensure_ascii off) that line readers break lines at,
#: httpx's iter_lines (smsgw trace) and str.splitlines among them; NDJSON breaks only at "\n"
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _line(obj: dict[str, Any]) -> bytes:
    """One NDJSON line. Operator text (an MO in Latin-1 with a 0x85, a UCS-2 U+2028) would
    otherwise split it in two for the reader, and ``smsgw trace`` fail on half a JSON object."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
    if not text.isascii():
        text = text.translate(_LINE_BREAKS)
    return text.encode() + b"\n"
