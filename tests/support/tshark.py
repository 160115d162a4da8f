"""Run PDUs we produced through Wireshark's dissectors: an independent decoder.

``dissect(payloads, port=2775, proto="smpp")`` writes each payload as one TCP segment of a
synthetic capture (client 10.0.0.1 -> server 10.0.0.2:port) into a pcap file, runs
``tshark -T json`` on it and returns, per packet, the dissector's layer as a dict
(``{"smpp.command_id": "0x00000004", ...}`` flattened). Tests skip when tshark is absent.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

TSHARK = shutil.which("tshark")

needs_tshark = pytest.mark.skipif(
    TSHARK is None,
    reason="tshark is not installed (apt-get install tshark); independent-decoder check skipped",
)


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_pcap(path: Path, payloads: list[bytes], port: int) -> None:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
    seq = 1000
    for i, payload in enumerate(payloads):
        tcp = struct.pack("!HHIIBBHHH", 40000, port, seq, 1, 5 << 4, 0x18, 65535, 0, 0)
        seq += len(payload)
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, i & 0xFFFF, 0, 64, 6, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
        eth = b"\x00\x11\x22\x33\x44\x55" + b"\x66\x77\x88\x99\xaa\xbb" + b"\x08\x00"
        frame = eth + ip + tcp + payload
        out += struct.pack("<IIII", i, 0, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))


def _flatten(node: Any, into: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                _flatten(value, into)
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    into.setdefault(key, value)
            else:
                into.setdefault(key, value)
    elif isinstance(node, list):
        for item in node:
            _flatten(item, into)


def dissect(payloads: list[bytes], *, port: int, proto: str) -> list[dict[str, Any]]:
    """Return the flattened ``proto`` layer of every packet (empty dict if not dissected)."""
    assert TSHARK is not None
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "pdus.pcap"
        write_pcap(pcap, payloads, port)
        result = subprocess.run(
            [TSHARK, "-r", str(pcap), "-T", "json", "-d", f"tcp.port=={port},{proto}",
             "-o", "tcp.desegment_tcp_streams:FALSE"],
            capture_output=True, text=True, timeout=120, check=True,
        )
    packets = json.loads(result.stdout or "[]")
    layers = []
    for packet in packets:
        layer = packet["_source"]["layers"].get(proto, {})
        flat: dict[str, Any] = {}
        _flatten(layer, flat)
        layers.append(flat)
    return layers
