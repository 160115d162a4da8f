"""Simulator throughput benchmark (not a test): can ``smsc-sim`` absorb the gateway's load?

    .venv/bin/python scripts/bench/sim.py [--protocol smpp|cmpp|smgp] [--seconds 8] [--binds 4]

Starts ``smsc-sim PROTOCOL`` as a subprocess (receipts on, ``--dlr-delay 0.5``) and drives
it from this process with a raw-socket client: each bind logs in through a ``protocols``
client session (real authenticators), then writes pre-encoded submits in large coalesced
batches, keeps at most ``--window`` of them outstanding per bind, and answers every
receipt. The client only reads PDU headers and a status field, so it is not the limit.
The first second is warm-up. Prints JSON: submits/s accepted, receipts/s, the simulator's
CPU use (seconds of CPU per wall second, from /proc) over the measured interval.
"""

# ruff: noqa: E402  (sys.path must hold the project root before the imports below)
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import argparse
import json
import os
import selectors
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from protocols import cmpp, smgp, smpp
from protocols.session import BindRefused, Bound, Role, State

WARMUP_SECONDS = 1.0
MAX_SECONDS = 20.0
ACCOUNT, SECRET = "bench", "bench"
TEXT = b"Your verification code is 482913. It expires in 5 minutes."


@dataclass(frozen=True)
class Spec:
    """What the client needs to know of one protocol's wire format."""

    header: int
    submit_resp: int
    deliver: int
    status: slice  # where a submit response carries its status / result

    def deliver_resp(self, buf: bytearray, pos: int) -> bytes:
        """The response to the deliver starting at ``buf[pos]``."""
        raise NotImplementedError


class SmppSpec(Spec):
    def deliver_resp(self, buf: bytearray, pos: int) -> bytes:
        return struct.pack(">III", 17, 0x80000005, 0) + buf[pos + 12:pos + 16] + b"\0"


class CmppSpec(Spec):
    def deliver_resp(self, buf: bytearray, pos: int) -> bytes:  # CMPP 3.0: Msg_Id(8) + Result(4)
        return struct.pack(">II", 24, 0x80000005) + buf[pos + 8:pos + 20] + bytes(4)


class SmgpSpec(Spec):
    def deliver_resp(self, buf: bytearray, pos: int) -> bytes:  # MsgID(10) + Status(4)
        return struct.pack(">II", 26, 0x80000003) + buf[pos + 8:pos + 22] + bytes(4)


SPECS: dict[str, Spec] = {
    "smpp": SmppSpec(16, 0x80000004, 0x00000005, slice(8, 12)),
    "cmpp": CmppSpec(12, 0x80000004, 0x00000005, slice(20, 24)),
    "smgp": SmgpSpec(12, 0x80000002, 0x00000003, slice(22, 26)),
}


def new_session(protocol: str) -> Any:
    if protocol == "smpp":
        return smpp.SmppSession(Role.CLIENT, keepalive_interval=None)
    if protocol == "cmpp":
        return cmpp.CmppSession(Role.CLIENT, 3, keepalive_interval=None)
    return smgp.SmgpSession(Role.CLIENT, keepalive_interval=None)


def encoded_submit(protocol: str, sequence: int) -> bytes:
    dest = f"1380013{sequence % 10000:04d}"
    if protocol == "smpp":
        return smpp.encode(smpp.SubmitSm(sequence=sequence, source_addr="SMSGW", destination_addr=dest,
                                         registered_delivery=1, short_message=TEXT))
    if protocol == "cmpp":
        return cmpp.encode(cmpp.Submit(sequence=sequence, registered_delivery=1, service_id="BENCH",
                                       msg_src=ACCOUNT, src_id="10690000", dest_terminal_ids=[dest],
                                       msg_content=TEXT), version=3)
    return smgp.encode(smgp.Submit(sequence=sequence, need_report=1, service_id="BENCH", src_term_id="10690000",
                                   dest_term_ids=[dest], msg_content=TEXT))


def log_in(protocol: str, port: int) -> socket.socket:
    """Bind/log in with a real client session; return the socket, now ours to drive raw."""
    sock = socket.create_connection(("127.0.0.1", port))
    session = new_session(protocol)
    stamp = int(time.strftime("%m%d%H%M%S"))
    if protocol == "smpp":
        session.bind(0.0, State.BOUND_TRX, ACCOUNT, SECRET)
    elif protocol == "cmpp":
        session.login(0.0, ACCOUNT, SECRET, stamp)
    else:
        session.login(0.0, ACCOUNT, SECRET, stamp, smgp.LoginMode.TRANSMIT)
    sock.sendall(session.data_to_send())
    while True:
        data = sock.recv(4096)
        if not data:
            raise SystemExit("the simulator closed the connection during the bind")
        for event in session.receive_data(data, 0.0):
            if isinstance(event, Bound):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
                return sock
            if isinstance(event, BindRefused):
                raise SystemExit(f"bind refused: {event.reason}")


@dataclass
class Link:
    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    outstanding: int = 0


@dataclass
class Counts:
    accepted: int = 0
    refused: int = 0
    receipts: int = 0


def drive(protocol: str, port: int, seconds: float, binds: int, window: int, batch: int,
          sim_pid: int) -> dict[str, Any]:
    spec = SPECS[protocol]
    batch_bytes = b"".join(encoded_submit(protocol, i + 1) for i in range(batch))
    links = [Link(log_in(protocol, port)) for _ in range(binds)]
    selector = selectors.DefaultSelector()
    for link in links:
        selector.register(link.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, link)
    counts = Counts()
    started = time.monotonic()
    measure_from = started + WARMUP_SECONDS
    deadline = measure_from + seconds
    snapshot: tuple[float, Counts, float, float] | None = None
    ok = bytes(4)
    unpack_from, deliver_resp = struct.unpack_from, spec.deliver_resp
    submit_resp, deliver = spec.submit_resp, spec.deliver
    status_at, status_end = spec.status.start, spec.status.stop
    while (now := time.monotonic()) < deadline:
        if snapshot is None and now >= measure_from:
            snapshot = (now, Counts(**vars(counts)), cpu_seconds(sim_pid), time.process_time())
        for key, mask in selector.select(0.5):
            link = key.data
            if mask & selectors.EVENT_READ:
                data = link.sock.recv(1 << 20)
                if not data:
                    raise SystemExit("the simulator closed a connection")
                buf = link.inbuf
                buf += data
                pos, end = 0, len(buf)
                while end - pos >= 8:
                    length, command = unpack_from(">II", buf, pos)
                    if end - pos < length:
                        break
                    if command == submit_resp:
                        link.outstanding -= 1
                        if buf[pos + status_at:pos + status_end] == ok:
                            counts.accepted += 1
                        else:
                            counts.refused += 1
                    elif command == deliver:
                        counts.receipts += 1
                        link.outbuf += deliver_resp(buf, pos)
                    pos += length
                del buf[:pos]
            if link.outstanding + batch <= window:
                link.outbuf += batch_bytes
                link.outstanding += batch
            if link.outbuf:
                try:
                    sent = link.sock.send(link.outbuf)
                except BlockingIOError:
                    sent = 0
                del link.outbuf[:sent]
    assert snapshot is not None
    start_time, start_counts, start_cpu, start_client_cpu = snapshot
    elapsed = time.monotonic() - start_time
    cpu = cpu_seconds(sim_pid) - start_cpu
    client_cpu = time.process_time() - start_client_cpu
    for link in links:
        link.sock.close()
    return {
        "protocol": protocol,
        "binds": binds,
        "window_per_bind": window,
        "batch": batch,
        "seconds": round(elapsed, 2),
        "submits_per_s": round((counts.accepted - start_counts.accepted) / elapsed),
        "refused_per_s": round((counts.refused - start_counts.refused) / elapsed),
        "receipts_per_s": round((counts.receipts - start_counts.receipts) / elapsed),
        "simulator_cpu": round(cpu / elapsed, 2),
        "client_cpu": round(client_cpu / elapsed, 2),
        "submits_per_simulator_cpu_s": round((counts.accepted - start_counts.accepted) / cpu) if cpu else None,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulator(protocol: str, extra: list[str], profile: str | None) -> tuple[subprocess.Popen[bytes], int]:
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    command = [sys.executable, *profiler, "-m", "simulators.cli", protocol, "--port", "0",
               "--account", f"{ACCOUNT}:{SECRET}", "--window", "1000000", "--dlr-delay", "0.5", *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stderr is not None
    line = process.stderr.readline().decode()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"smsc-sim did not start: {line}{process.stderr.read().decode()}")
    threading.Thread(target=process.stderr.read, daemon=True).start()  # its log must never block it
    return process, int(line.rsplit(":", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=sorted(SPECS), default="smpp")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds (after 1 s warm-up)")
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=4000, help="outstanding submits per bind")
    parser.add_argument("--batch", type=int, default=500, help="submits per coalesced write")
    parser.add_argument("--record", default=None, help="pass --record FILE to the simulator")
    parser.add_argument("--profile", default=None, help="run the simulator under cProfile, stats to this file")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS - WARMUP_SECONDS)
    process, port = start_simulator(args.protocol, ["--record", args.record] if args.record else [], args.profile)
    try:
        result = drive(args.protocol, port, seconds, args.binds, args.window, args.batch, process.pid)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    result["simulator_summary"] = json.loads(out or b"{}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
