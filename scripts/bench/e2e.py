"""End-to-end gateway benchmark (issue 4; not a test): ``smsc-sim smpp`` and ``smsgw serve`` as
separate processes on a temporary directory, driven over loopback by a load generator in its own
process (raw keep-alive HTTP/1.1 over sockets, requests built and bodies hashed in advance, each
one signed just before it is sent).

    .venv/bin/python scripts/bench/e2e.py --json [--mode batched|single|queued|all] [--messages N]
                                         [--profile DIR]

Phases (each on a fresh temp dir, channels.toml, SQLite database, key, simulator and gateway):

* ``batched``: N messages as POST /v1/batches of 100 recipients from a few closed-loop
  connections; waits until every message is final in the database (receipt correlated).
* ``single``: (b1) N messages, one per POST /v1/messages, from ``--concurrency`` closed-loop
  connections (the maximum the gateway takes); (b2) open-loop at ``--rate`` per second for
  ``--rate-seconds`` (latency from the *scheduled* send time, so queueing in the client counts).
  Both wait for every message to be final.
* ``queued``: ``--queued-messages`` accepted for a channel whose SMSC is not running (nothing
  drains), then the gateway's RSS.

Figures: msgs/s end to end (first request to last message final) and at intake (to the last 202),
submit-to-202 latency p50/p99/max per request, the gateway's peak RSS (VmHWM; ``serve`` and its
store writer process added up) and CPU (``gateway_writer``: the writer process's), the
simulator's and the generator's CPU (to show which process is the limit), the CPU the machine
spent on other processes (``others``) or lost to the hypervisor (``steal``) meanwhile (a run with
either well above zero measured a busy machine), and first a ``machine`` line with the speed of
a fixed Python loop, to compare runs of different days. ``--profile DIR`` runs
``py-spy record`` on the gateway during the batched phase (``pip install py-spy`` into .venv) and
prints the top functions by own and by total samples.

Every phase is bounded in time; the processes are stopped at the end, also on error.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import multiprocessing
import os
import re
import selectors
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from smsgw.http.auth import sign

BIN = Path(sys.executable).parent
TEXT = "您的验证码是482913，5分钟内有效。请勿泄露给他人。"
SIGNATURE = "某某科技"
CHANNEL = "bench"
PHASE_SECONDS = 120.0  # bound of one phase's sending
FINAL_WAIT_SECONDS = 90.0  # bound of the wait for the last receipts after sending
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
ACCEPTED = re.compile(rb'"accepted": *(\d+)')
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- load generator
@dataclass
class Plan:
    """What one generator process sends."""

    port: int
    key: str
    secret: str
    path: str  # /v1/batches or /v1/messages
    bodies: list[bytes]
    concurrency: int
    rate: float | None  # None: closed loop; else requests per second, open loop
    nonce_prefix: str
    deadline_s: float = PHASE_SECONDS


@dataclass
class GenResult:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    accepted_msgs: int = 0
    first_error: str | None = None
    started: float = 0.0  # time.time()
    last_response: float = 0.0  # time.time()
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)


class _Conn:
    __slots__ = ("buf", "index", "scheduled", "sock")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.scheduled = 0.0
        self.index = -1


def _head(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n").encode()


def generate(plan: Plan, out: Connection) -> None:
    """Generator process: send ``plan.bodies`` and report a ``GenResult`` through ``out``."""
    try:
        out.send(asdict(_generate(plan)))
    except BaseException as exc:
        out.send({"exception": repr(exc)})
        raise


def _generate(plan: Plan) -> GenResult:
    res = GenResult()
    heads = {}  # Content-Length varies with the body
    total = len(plan.bodies)
    sel = selectors.DefaultSelector()
    conns = [_Conn(plan.port) for _ in range(min(plan.concurrency, total))]
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    idle = collections.deque(conns)
    pending: collections.deque[tuple[int, float]] = collections.deque()
    latencies = res.latencies
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    wall0 = time.time()
    res.started = wall0
    stop_at = t0 + plan.deadline_s
    next_index = done = counter = 0
    ts_second, ts_text = -1, ""
    interval = 1.0 / plan.rate if plan.rate else 0.0
    key, secret, path = plan.key, plan.secret, plan.path

    def send(conn: _Conn, index: int, scheduled: float) -> None:
        nonlocal counter, ts_second, ts_text
        body = plan.bodies[index]
        now_s = int(wall0 + (time.perf_counter() - t0))
        if now_s != ts_second:
            ts_second, ts_text = now_s, str(now_s)
        counter += 1
        headers = sign(secret, "POST", path, body, timestamp=now_s, nonce=f"{plan.nonce_prefix}{counter:012x}",
                       key_id=key)
        head = heads.get(len(body))
        if head is None:
            head = heads[len(body)] = _head(path, body)
        conn.sock.sendall(head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n" + body)
        conn.scheduled, conn.index = scheduled, index

    while done < total:
        now = time.perf_counter()
        if now > stop_at:
            res.first_error = res.first_error or f"phase bound of {plan.deadline_s:.0f} s reached"
            break
        if plan.rate:
            while next_index < total and t0 + next_index * interval <= now:
                pending.append((next_index, t0 + next_index * interval))
                next_index += 1
        else:
            while next_index < total and len(pending) < len(idle):
                pending.append((next_index, 0.0))
                next_index += 1
        while idle and pending:
            index, scheduled = pending.popleft()
            send(idle.popleft(), index, scheduled or time.perf_counter())
        if plan.rate and next_index < total:
            timeout = max(0.0, t0 + next_index * interval - time.perf_counter())
        else:
            timeout = 0.5
        for sel_key, _ in sel.select(timeout):
            conn: _Conn = sel_key.data
            data = conn.sock.recv(262144)
            if not data:
                res.errors += 1
                res.first_error = res.first_error or "the server closed a connection"
                sel.unregister(conn.sock)
                conn.sock.close()
                done += 1
                replacement = _Conn(plan.port)
                sel.register(replacement.sock, selectors.EVENT_READ, replacement)
                idle.append(replacement)
                continue
            buf = conn.buf
            buf += data
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            length = CONTENT_LENGTH.search(buf, 0, head_end + 2)
            end = head_end + 4 + (int(length.group(1)) if length else 0)
            if len(buf) < end:
                continue
            finished = time.perf_counter()
            status = int(buf[9:12])
            body = bytes(buf[head_end + 4:end])
            del buf[:end]
            latencies.append(finished - conn.scheduled)
            res.requests += 1
            done += 1
            if status == 202:
                res.ok += 1
                if plan.path == "/v1/batches":
                    match = ACCEPTED.search(body)
                    res.accepted_msgs += int(match.group(1)) if match else 0
                else:
                    res.accepted_msgs += 1
            else:
                res.errors += 1
                res.first_error = res.first_error or f"HTTP {status}: {body[:300]!r}"
            idle.append(conn)
    res.last_response = wall0 + (time.perf_counter() - t0)
    res.cpu_seconds = time.process_time() - cpu0
    for conn in conns:
        conn.sock.close()
    return res


def run_generators(plans: list[Plan]) -> GenResult:
    """Each plan in its own process; the merged result."""
    ctx = multiprocessing.get_context("spawn")
    procs, pipes = [], []
    for plan in plans:
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=generate, args=(plan, sender), daemon=True)
        proc.start()
        procs.append(proc)
        pipes.append(receiver)
    merged = GenResult(started=float("inf"))
    try:
        for proc, pipe in zip(procs, pipes):
            if not pipe.poll(PHASE_SECONDS + 30):
                raise RuntimeError("a load generator did not report in time")
            raw = pipe.recv()
            if "exception" in raw:
                raise RuntimeError(f"load generator failed: {raw['exception']}")
            part = GenResult(**raw)
            merged.requests += part.requests
            merged.ok += part.ok
            merged.errors += part.errors
            merged.accepted_msgs += part.accepted_msgs
            merged.first_error = merged.first_error or part.first_error
            merged.started = min(merged.started, part.started)
            merged.last_response = max(merged.last_response, part.last_response)
            merged.cpu_seconds += part.cpu_seconds
            merged.latencies.extend(part.latencies)
            proc.join(5)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    return merged


def split_plans(port: int, key: str, secret: str, path: str, bodies: list[bytes], concurrency: int,
                rate: float | None, procs: int) -> list[Plan]:
    procs = max(1, min(procs, len(bodies)))
    return [Plan(port, key, secret, path, bodies[i::procs], max(1, concurrency // procs),
                 rate / procs if rate else None, f"bench{os.getpid():06d}p{i}-")
            for i in range(procs)]


def number(i: int) -> str:
    return f"130{i:08d}"


def single_bodies(n: int, offset: int = 0) -> list[bytes]:
    return [json.dumps({"to": number(offset + i), "text": TEXT, "signature": SIGNATURE},
                       ensure_ascii=False, separators=(",", ":")).encode() for i in range(n)]


def batch_bodies(n: int, size: int) -> list[bytes]:
    out = []
    for start in range(0, n, size):
        recipients = [{"to": number(i)} for i in range(start, min(n, start + size))]
        out.append(json.dumps({"text": TEXT, "signature": SIGNATURE, "recipients": recipients},
                              ensure_ascii=False, separators=(",", ":")).encode())
    return out


# ---------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in kB."""
    out = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def children(pid: int) -> list[int]:
    """The processes ``pid`` started, from any of its threads (the gateway's store writer process)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def proc_cpu(pid: int, *, system_only: bool = False) -> float:
    """utime + stime in seconds (threads included); only stime with ``system_only``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[12]) + (0 if system_only else int(fields[11]))) / CLK_TCK


def machine_cpu() -> dict[str, float]:
    """Seconds of CPU the whole machine spent busy and stolen by the hypervisor (``/proc/stat``)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    return {"busy": (user + nice + system + irq + softirq) / CLK_TCK, "steal": steal / CLK_TCK}


def loop_ns() -> float:
    """Nanoseconds per iteration of a fixed pure-Python loop, best of five: figures taken on
    different days (or VMs) of "this machine" differ by this factor, not only by the code."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best / 2_000_000 * 1e9, 1)


def smsgw(config: Path, *args: str) -> str:
    result = subprocess.run([str(BIN / "smsgw"), "--config", str(config), *args], capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"smsgw {' '.join(args)} failed:\n{result.stderr or result.stdout}")
    return result.stdout


class Stack:
    """A temp dir with channels.toml, a database, a key, the simulator and the gateway."""

    def __init__(self, *, binds: int, window: int, dlr_delay: float, with_sim: bool, keep: bool,
                 store_writer: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="smsgw-bench-"))
        self.keep = keep
        self.binds = binds
        self.with_sim = with_sim
        self.http_port = free_port()
        self.sim_port = free_port()  # stays unused when with_sim is False: nothing drains
        self.db_path = self.dir / "smsgw.db"
        self.config = self.dir / "channels.toml"
        self.config.write_text("\n".join([
            "[gateway]", f'http = "127.0.0.1:{self.http_port}"', f'database = "sqlite:///{self.db_path}"',
            "auto_upgrade = true", "drain_timeout = 2", f'store_writer = "{store_writer}"', "",
            "[policy]", "content_review = false", "frequency_limits = false", "",
            "[[channel]]", f'name = "{CHANNEL}"', 'protocol = "smpp"', 'host = "127.0.0.1"',
            f"port = {self.sim_port}", 'username = "smsgw"', 'password = "secret"', f"binds = {binds}",
            f"window = {window}", "tps = 1000000", 'prefixes = ["1", "+"]', 'source = "SMSGW"',
            "reconnect_min = 0.5", "reconnect_max = 2", "",
        ]), encoding="utf-8")
        self.sim_args = [str(BIN / "smsc-sim"), "smpp", "--port", str(self.sim_port), "--account", "smsgw:secret",
                         "--window", str(window), "--dlr-delay", str(dlr_delay), "--seed", "1"]
        self.sim: subprocess.Popen[bytes] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.key = self.secret = ""
        self._cpu0: dict[str, float] = {}

    def start(self) -> None:
        smsgw(self.config, "db", "upgrade")
        key = json.loads(smsgw(self.config, "keys", "create", "--name", "bench", "--json"))
        self.key, self.secret = key["key"], key["secret"]
        if self.with_sim:
            self.sim = subprocess.Popen(self.sim_args, stdout=open(self.dir / "sim.json", "wb"),  # noqa: SIM115
                                        stderr=subprocess.STDOUT)
        self.gateway = subprocess.Popen(
            [str(BIN / "smsgw"), "--config", str(self.config), "serve", "--json-logs"],
            stdout=open(self.dir / "gateway.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.gateway.poll() is not None:
                raise RuntimeError(f"smsgw serve exited {self.gateway.returncode}; see {self.dir / 'gateway.log'}")
            with contextlib.suppress(OSError):
                bound = self.metric(f'smsgw_bound_sessions{{channel="{CHANNEL}"}}')
                if bound is not None and (bound >= self.binds or not self.with_sim):
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the gateway did not bind {self.binds} sessions within 30 s")
        self._cpu0 = self.cpu()

    def metric(self, name: str) -> float | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        return None

    def cpu(self) -> dict[str, float]:
        out = {}
        if self.gateway is not None:
            out["gateway"] = proc_cpu(self.gateway.pid)
            out["gateway_system"] = proc_cpu(self.gateway.pid, system_only=True)
            out["gateway_writer"] = sum(proc_cpu(pid) for pid in children(self.gateway.pid))
        if self.sim is not None:
            out["sim"] = proc_cpu(self.sim.pid)
        return out

    def cpu_used(self) -> dict[str, float]:
        now = self.cpu()
        return {name: round(now[name] - self._cpu0.get(name, 0.0), 2) for name in now}

    def rss(self) -> dict[str, int]:
        """VmRSS and VmHWM of the daemon: ``serve`` and its store writer process added up (for
        VmHWM, each one's peak: an upper bound of their peak together)."""
        assert self.gateway is not None
        total: collections.Counter[str] = collections.Counter()
        for pid in (self.gateway.pid, *children(self.gateway.pid)):
            total.update(proc_status(pid))
        return dict(total)

    def rss_by_process(self) -> dict[str, float]:
        """VmRSS and VmHWM in MB of ``serve`` and (``writer_``) of its store writer process."""
        assert self.gateway is not None
        out = {name: round(kb / 1024, 1) for name, kb in proc_status(self.gateway.pid).items()}
        for pid in children(self.gateway.pid):
            out.update({f"writer_{name}": round(kb / 1024, 1) for name, kb in proc_status(pid).items()})
        return out

    def counts(self) -> dict[str, int]:
        """Messages by status, read from the database (read-only, WAL: no interference)."""
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return dict(db.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall())
        finally:
            db.close()

    def pending(self) -> int:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return int(db.execute(
                "SELECT count(*) FROM messages WHERE status IN ('accepted', 'submitted')").fetchone()[0])
        finally:
            db.close()

    def stop(self) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for name in ("gateway", "sim"):
            process = getattr(self, name)
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name in ("gateway", "sim"):
            process = getattr(self, name)
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
                summary[f"{name}_killed"] = True
        with contextlib.suppress(OSError, ValueError):
            summary["sim"] = json.loads((self.dir / "sim.json").read_text().strip().splitlines()[-1])
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return summary


@contextlib.contextmanager
def stack(**options: Any) -> Iterator[Stack]:
    s = Stack(**options)
    try:
        s.start()
        yield s
    finally:
        s.stop()


@contextlib.contextmanager
def py_spy(pid: int, out_dir: Path | None, name: str, gil: bool = False) -> Iterator[dict[str, Any]]:
    """``py-spy record`` (raw collapsed stacks and an SVG flame graph) while the block runs; with ``gil``
    only the thread holding the GIL is sampled (what limits a CPU-bound Python process)."""
    report: dict[str, Any] = {}
    if out_dir is None:
        yield report
        return
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        report["error"] = "py-spy not found: .venv/bin/pip install py-spy"
        yield report
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, svg = out_dir / f"{name}.txt", out_dir / f"{name}.svg"
    flags = ["--rate", "500", "--nonblocking", *(["--gil"] if gil else [])]
    procs = [subprocess.Popen([spy, "record", "--pid", str(pid), *flags, "--format", fmt, "-o", str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for fmt, path in (("raw", raw), ("flamegraph", svg))]
    time.sleep(1.0)
    try:
        yield report
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if raw.exists():
            report.update(summarize_profile(raw))
            report["raw"], report["svg"] = str(raw), str(svg)
        else:
            report["error"] = (procs[0].stderr.read().decode() if procs[0].stderr else "")[-500:]


def summarize_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """Own and total sample shares per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = stack_text.split(";")
        threads[frames[0].split(" ")[0] if frames and frames[0].startswith("thread") else "main"] += count
        names = [_frame(f) for f in frames if f and not f.startswith(("process", "thread"))]
        if names:
            own[names[-1]] += count
        for name in set(names):
            total[name] += count

    def share(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / samples, 1)) for name, n in counter.most_common(top)]

    return {"samples": samples, "own_pct": share(own), "total_pct": share(total)}


def _frame(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)`` relative to the package."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/main/", "/lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{func} ({where})"


# ---------------------------------------------------------------------------- phases
@dataclass
class PhaseResult:
    phase: str
    messages: int
    accepted: int
    errors: int
    first_error: str | None
    requests: int
    concurrency: int
    offered_rate: float | None
    e2e_msgs_per_s: float
    intake_msgs_per_s: float
    seconds_to_last_202: float
    seconds_to_all_final: float | None
    final: dict[str, int]
    latency_ms: dict[str, float]
    gateway_rss_mb: float
    gateway_peak_rss_mb: float
    cpu_seconds: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


def _latency(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)
    return {"p50": round(statistics.median(ordered) * 1000, 2),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
            "max": round(ordered[-1] * 1000, 2)}


def wait_final(s: Stack, started: float, expected: int, peak: list[int]) -> float | None:
    """Poll the database until nothing is accepted/submitted; seconds since ``started``."""
    deadline = time.monotonic() + FINAL_WAIT_SECONDS
    while time.monotonic() < deadline:
        peak.append(s.rss().get("VmRSS", 0))
        if s.pending() == 0 and sum(s.counts().values()) >= expected:
            return time.time() - started
        time.sleep(0.2)
    return None


def run_load(s: Stack, name: str, path: str, bodies: list[bytes], messages: int, concurrency: int,
             rate: float | None, procs: int, profile: Path | None = None, gil: bool = False) -> PhaseResult:
    assert s.gateway is not None
    plans = split_plans(s.http_port, s.key, s.secret, path, bodies, concurrency, rate, procs)
    peak: list[int] = []
    machine0, stack0 = machine_cpu(), s.cpu()
    with py_spy(s.gateway.pid, profile, name, gil) as prof:
        gen = run_generators(plans)
        all_final = wait_final(s, gen.started, gen.accepted_msgs, peak)
    rss = s.rss()
    intake_s = max(1e-9, gen.last_response - gen.started)
    cpu = s.cpu_used()
    cpu["generator"] = round(gen.cpu_seconds, 2)
    cpu.update(_elsewhere(machine0, stack0, s.cpu(), gen.cpu_seconds))
    extra: dict[str, Any] = {"profile": prof} if prof else {}
    # messages queued from their write rather than read back from the database (older gateways: none)
    extra["handed_over"] = s.metric('smsgw_messages_loaded_total{how="handed_over"}')
    return PhaseResult(
        phase=name, messages=messages, accepted=gen.accepted_msgs, errors=gen.errors, first_error=gen.first_error,
        requests=gen.requests, concurrency=concurrency, offered_rate=rate,
        e2e_msgs_per_s=round(gen.accepted_msgs / all_final, 1) if all_final else 0.0,
        intake_msgs_per_s=round(gen.accepted_msgs / intake_s, 1),
        seconds_to_last_202=round(intake_s, 2),
        seconds_to_all_final=round(all_final, 2) if all_final else None,
        final=s.counts(), latency_ms=_latency(gen.latencies),
        gateway_rss_mb=round(max(peak or [0]) / 1024, 1),
        gateway_peak_rss_mb=round(rss.get("VmHWM", 0) / 1024, 1),
        cpu_seconds=cpu, extra=extra,
    )


def _elsewhere(machine0: dict[str, float], stack0: dict[str, float], stack1: dict[str, float],
               generator: float) -> dict[str, float]:
    """CPU the machine spent on anything but the benchmark's processes during the phase
    (``others``: another job, py-spy) and lost to the hypervisor (``steal``): a phase with
    either well above zero measured a busy machine, not the gateway."""
    machine1 = machine_cpu()
    ours = sum(stack1.get(name, 0.0) - stack0.get(name, 0.0) for name in ("gateway", "gateway_writer", "sim"))
    return {"others": round(max(0.0, machine1["busy"] - machine0["busy"] - ours - generator), 2),
            "steal": round(machine1["steal"] - machine0["steal"], 2)}


def phase_batched(args: argparse.Namespace) -> list[PhaseResult]:
    bodies = batch_bodies(args.messages, 100)
    with stack(binds=args.binds, window=args.window, dlr_delay=args.dlr_delay, with_sim=True, keep=args.keep,
               store_writer=args.store_writer) as s:
        result = run_load(s, "batched", "/v1/batches", bodies, args.messages, args.batch_concurrency, None,
                          args.gen_procs, args.profile, args.profile_gil)
    return [result]


def phase_single(args: argparse.Namespace) -> list[PhaseResult]:
    results = []
    n = args.single_messages or args.messages
    with stack(binds=args.binds, window=args.window, dlr_delay=args.dlr_delay, with_sim=True, keep=args.keep,
               store_writer=args.store_writer) as s:
        results.append(run_load(s, "single_max", "/v1/messages", single_bodies(n), n, args.concurrency, None,
                                args.gen_procs, args.profile if args.profile_single else None, args.profile_gil))
    n_rate = int(args.rate * args.rate_seconds)
    with stack(binds=args.binds, window=args.window, dlr_delay=args.dlr_delay, with_sim=True, keep=args.keep,
               store_writer=args.store_writer) as s:
        results.append(run_load(s, "single_rate", "/v1/messages", single_bodies(n_rate), n_rate, args.concurrency,
                                args.rate, args.gen_procs, args.profile if args.profile_single else None,
                                args.profile_gil))
    return results


def phase_queued(args: argparse.Namespace) -> list[PhaseResult]:
    n = args.queued_messages
    bodies = batch_bodies(n, args.queued_batch)
    with stack(binds=args.binds, window=args.window, dlr_delay=args.dlr_delay, with_sim=False, keep=args.keep,
               store_writer=args.store_writer) as s:
        plans = split_plans(s.http_port, s.key, s.secret, "/v1/batches", bodies, args.queued_concurrency, None, 1)
        peak: list[int] = []
        gen = run_generators(plans)
        time.sleep(3.0)  # let the feeder fill its pages and the writer settle
        peak.append(s.rss().get("VmRSS", 0))
        rss = s.rss()
        counts = s.counts()
        intake_s = max(1e-9, gen.last_response - gen.started)
        cpu = s.cpu_used()
        cpu["generator"] = round(gen.cpu_seconds, 2)
        depth = s.metric(f'smsgw_queue_depth{{channel="{CHANNEL}"}}')
        return [PhaseResult(
            phase="queued", messages=n, accepted=gen.accepted_msgs, errors=gen.errors, first_error=gen.first_error,
            requests=gen.requests, concurrency=args.queued_concurrency, offered_rate=None, e2e_msgs_per_s=0.0,
            intake_msgs_per_s=round(gen.accepted_msgs / intake_s, 1), seconds_to_last_202=round(intake_s, 2),
            seconds_to_all_final=None, final=counts, latency_ms=_latency(gen.latencies),
            gateway_rss_mb=round(rss.get("VmRSS", 0) / 1024, 1),
            gateway_peak_rss_mb=round(rss.get("VmHWM", 0) / 1024, 1), cpu_seconds=cpu,
            extra={"batch_size": args.queued_batch, "memory_queue_depth": depth, "rss_mb": s.rss_by_process(),
                   "db_mb": round(sum(p.stat().st_size for p in s.dir.glob("smsgw.db*")) / 2**20, 1)},
        )]


def show(result: PhaseResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(result), ensure_ascii=False), flush=True)
        return
    lat = result.latency_ms
    print(f"{result.phase:>11}: {result.accepted} accepted ({result.errors} errors)  "
          f"e2e {result.e2e_msgs_per_s:,.0f} msg/s  intake {result.intake_msgs_per_s:,.0f} msg/s  "
          f"202 p50 {lat.get('p50')} ms p99 {lat.get('p99')} ms max {lat.get('max')} ms  "
          f"RSS {result.gateway_rss_mb} MB (peak {result.gateway_peak_rss_mb} MB)  CPU s {result.cpu_seconds}  "
          f"final {result.final}", flush=True)
    if result.first_error:
        print(f"             first error: {result.first_error}", flush=True)
    if result.extra.get("handed_over") is not None:
        print(f"             handed over to the queue (not read back): {result.extra['handed_over']:,.0f}", flush=True)
    if "rss_mb" in result.extra:
        print(f"             RSS by process, MB: {result.extra['rss_mb']}", flush=True)
    profile = result.extra.get("profile")
    if profile and "own_pct" in profile:
        print(f"             profile ({profile['samples']} samples, {profile['svg']}):")
        for name, pct in profile["own_pct"][:15]:
            print(f"               own {pct:5.1f}%  {name}")
        for name, pct in profile["total_pct"][:25]:
            print(f"             total {pct:5.1f}%  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["batched", "single", "queued", "all"], default="all")
    parser.add_argument("--messages", type=int, default=100_000, help="messages of the batched phase")
    parser.add_argument("--single-messages", type=int, default=50_000,
                        help="messages of the one-per-POST max-concurrency phase")
    parser.add_argument("--queued-messages", type=int, default=1_000_000)
    parser.add_argument("--queued-batch", type=int, default=10_000, help="recipients per POST in the queued phase")
    parser.add_argument("--queued-concurrency", type=int, default=4, help="connections of the queued phase")
    parser.add_argument("--concurrency", type=int, default=64, help="connections of the one-per-POST phases")
    parser.add_argument("--batch-concurrency", type=int, default=8, help="connections of the batched phases")
    parser.add_argument("--rate", type=float, default=1500.0, help="offered messages/s of the latency phase")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--gen-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--store-writer", choices=["process", "thread"], default="process",
                        help="where the gateway's store transactions run (its [gateway] store_writer)")
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--dlr-delay", type=float, default=0.5)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy record the gateway during the batched phase into DIR")
    parser.add_argument("--profile-single", action="store_true", help="also profile the one-per-POST phases")
    parser.add_argument("--profile-gil", action="store_true", help="sample only the thread holding the GIL")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (config, database, logs)")
    parser.add_argument("--json", action="store_true", help="one JSON object per phase")
    args = parser.parse_args()
    phases = {"batched": [phase_batched], "single": [phase_single], "queued": [phase_queued],
              "all": [phase_batched, phase_single, phase_queued]}[args.mode]
    failed = False
    calibration = loop_ns()
    print(json.dumps({"machine": {"python_loop_ns": calibration, "cpus": os.cpu_count(),
                                  "load_1m": os.getloadavg()[0]}}) if args.json
          else f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
               f"Python loop {calibration} ns/iteration (docs/benchmarks.md compares days by it)", flush=True)
    for phase in phases:
        try:
            for result in phase(args):
                show(result, args.json)
                failed |= result.errors > 0 or (result.phase != "queued" and result.seconds_to_all_final is None)
        except Exception as exc:  # report, go on with the next phase
            failed = True
            print(json.dumps({"phase": phase.__name__[6:], "error": repr(exc)}) if args.json
                  else f"{phase.__name__[6:]}: FAILED: {exc!r}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
