"""Batch benchmark (issue 5; not a test): a CSV of N rows (default 1,000,000) uploaded to a
``smsgw serve`` process as one streamed ``multipart/form-data`` POST /v1/batches, then its progress
read and its recipients exported, with the gateway's memory watched throughout.

    .venv/bin/python scripts/bench/batch.py [--rows N] [--mode down|sim|both] [--limits] [--wait-done]
                                            [--profile DIR]

Modes (each on a fresh temp dir, channels.toml, SQLite database, key and gateway, from
``scripts/bench/e2e.py``'s ``Stack``):

* ``down``: the channel's SMSC is not running, so every accepted row stays queued (pending):
  the upload, the flip to ``accepted``, the feeder's queue and the pending export of all N rows.
* ``sim``: an ``smsc-sim smpp`` process takes the messages while the progress and the pending
  export are read; with ``--wait-done`` the run waits until the batch is ``done``.

``--limits`` turns the frequency limits on (``[policy] frequency_limits``: every row is counted
per number in memory); by default the policy is off so that the batch code alone is measured.

Figures (one JSON object per mode on stdout): upload seconds and rows/s (first byte sent to the
202), the gateway's RSS before the upload, its peak (VmHWM) after the upload, after the progress
reads and after the export, the time of the first and of a repeated ``GET /v1/batches/{id}``, the
export's seconds, rows and bytes, and CPU seconds of the gateway (the machine is shared: CPU
seconds are the steadier figure).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import CHANNEL, Stack, number, proc_cpu, proc_status, py_spy

from smsgw.cli_batch import MultipartUpload
from smsgw.http.auth import sign, signature, string_to_sign

READ = 256 * 1024
TEXT = "尊敬的客户，您的账单编号{code}已出，请及时查看。"


def write_csv(path: Path, rows: int) -> int:
    """``to,code`` and ``rows`` distinct numbers; the file's size."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("to,code\r\n")
        step = 100_000
        for start in range(0, rows, step):
            out.write("".join(f"{number(i)},{i:07d}\r\n" for i in range(start, min(rows, start + step))))
    return path.stat().st_size


class Watcher:
    """Samples the gateway's VmRSS every 0.1 s in a thread (the peak of each stage); with a
    ``stack``, also the peak of the writer's queue (``smsgw_store_pending_ops``) every 0.5 s."""

    def __init__(self, pid: int, stack: Stack | None = None) -> None:
        self.pid, self.stack = pid, stack
        self.peak_kb = 0
        self.peak_pending_ops = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(0.1):
            self.peak_kb = max(self.peak_kb, proc_status(self.pid).get("VmRSS", 0))
            ticks += 1
            if self.stack is not None and ticks % 5 == 0:
                try:
                    pending = self.stack.metric("smsgw_store_pending_ops") or 0.0
                except OSError:
                    continue
                self.peak_pending_ops = max(self.peak_pending_ops, pending)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def mb(kb: int) -> float:
    return round(kb / 1024, 1)


def call(s: Stack, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=600)
    try:
        conn.request(method, path, headers=sign(s.secret, method, path, b"", key_id=s.key))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def upload(s: Stack, body: MultipartUpload, *, forged: bool = False) -> tuple[int, dict[str, Any], float]:
    """The upload, signed (``forged``: with a signature over another body); status, JSON, seconds."""
    timestamp, nonce = str(int(time.time())), f"bench-batch-{time.time_ns():x}"
    digest = hashlib.sha256(b"another body").hexdigest() if forged else body.sha256()
    headers = {"Content-Type": body.content_type, "Content-Length": str(body.length),
               "X-Api-Key": s.key, "X-Timestamp": timestamp, "X-Nonce": nonce,
               "X-Signature": signature(s.secret, string_to_sign("POST", "/v1/batches", timestamp, nonce, digest))}
    conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=1800)
    try:
        started = time.perf_counter()
        conn.request("POST", "/v1/batches", body=body.chunks(), headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data), time.perf_counter() - started
    finally:
        conn.close()


def export(s: Stack, batch_id: str, status: str) -> dict[str, Any]:
    """Stream the export, counting its lines; the time to the first and the last byte."""
    path = f"/v1/batches/{batch_id}/recipients?status={status}"
    conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=1800)
    try:
        started = time.perf_counter()
        conn.request("GET", path, headers=sign(s.secret, "GET", path, b"", key_id=s.key))
        response = conn.getresponse()
        first = None
        size = lines = 0
        while chunk := response.read(READ):
            first = first if first is not None else time.perf_counter() - started
            size += len(chunk)
            lines += chunk.count(b"\n")
        return {"status": response.status, "rows": lines - 1, "mb": round(size / 2**20, 1),
                "first_byte_s": round(first or 0.0, 3), "seconds": round(time.perf_counter() - started, 2),
                "transfer_encoding": response.getheader("transfer-encoding")}
    finally:
        conn.close()


def progress(s: Stack, batch_id: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    status, data = call(s, "GET", f"/v1/batches/{batch_id}")
    if status != 200:
        raise RuntimeError(f"GET /v1/batches/{batch_id}: {status} {data[:300]!r}")
    return json.loads(data), time.perf_counter() - started


def run_forged(args: argparse.Namespace, csv_path: Path) -> dict[str, Any]:
    """The whole file uploaded with a signature that fails at its end: every row written (held)
    is deleted again before the 401; how long that takes and what is left."""
    s = Stack(binds=args.binds, window=args.window, dlr_delay=args.dlr_delay, with_sim=False, keep=args.keep)
    result: dict[str, Any] = {"mode": "forged", "rows": args.rows}
    try:
        s.start()
        assert s.gateway is not None
        pid = s.gateway.pid
        cpu0 = proc_cpu(pid)
        with Watcher(pid) as watch:
            status, answer, took = upload(s, MultipartUpload({"text": TEXT}, csv_path), forged=True)
        result["answer"] = {"status": status, "code": answer.get("error", {}).get("code"), "seconds": round(took, 2),
                            "gateway_cpu_s": round(proc_cpu(pid) - cpu0, 2), "rss_peak_mb": mb(watch.peak_kb)}
        result["left_after_answer"] = s.counts()
        started = time.perf_counter()
        while s.counts() and time.perf_counter() - started < 600:
            time.sleep(0.5)
        result["all_deleted_after_s"] = round(time.perf_counter() - started, 1) if not s.counts() else None
        result["vmhwm_mb"] = mb(proc_status(pid).get("VmHWM", 0))
    finally:
        result["stop"] = s.stop()
    return result


def run_mode(mode: str, args: argparse.Namespace, csv_path: Path) -> dict[str, Any]:
    s = Stack(binds=args.binds, window=args.window, dlr_delay=args.dlr_delay, with_sim=mode == "sim",
              keep=args.keep)
    if args.limits:
        s.config.write_text(s.config.read_text().replace("frequency_limits = false", "frequency_limits = true"))
    result: dict[str, Any] = {"mode": mode, "rows": args.rows, "limits": args.limits}
    try:
        s.start()
        assert s.gateway is not None
        pid = s.gateway.pid
        result["rss_start_mb"] = mb(proc_status(pid).get("VmRSS", 0))
        body = MultipartUpload({"text": TEXT}, csv_path)
        cpu0 = proc_cpu(pid)
        with Watcher(pid) as watch, py_spy(pid, args.profile, f"batch-upload-{mode}") as prof:
            status, created, took = upload(s, body)
        if status != 202:
            raise RuntimeError(f"upload refused: {status} {created}")
        result["upload"] = {"seconds": round(took, 2), "rows_per_s": round(args.rows / took),
                            "mb": round(body.length / 2**20, 1), "gateway_cpu_s": round(proc_cpu(pid) - cpu0, 2),
                            "rows_per_cpu_s": round(args.rows / max(1e-9, proc_cpu(pid) - cpu0)),
                            "rss_peak_mb": mb(watch.peak_kb), "vmhwm_mb": mb(proc_status(pid).get("VmHWM", 0)),
                            **{k: created[k] for k in ("total", "accepted", "rejected")}}
        if prof:
            result["upload"]["profile"] = prof
        batch_id = created["id"]
        flip_started = time.perf_counter()
        with Watcher(pid, s) as watch:
            reads = []
            first, took = progress(s, batch_id)
            reads.append(round(took, 3))
            for _ in range(3):
                time.sleep(0.5)
                last, took = progress(s, batch_id)
                reads.append(round(took, 3))
            # the flip held -> accepted runs in the background: wait for it (all pending, none held)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and s.counts().get("held", 0):
                time.sleep(0.5)
            result["flip_to_accepted_s"] = round(time.perf_counter() - flip_started, 1)
            last, took = progress(s, batch_id)
            reads.append(round(took, 3))
        result["progress"] = {"read_seconds": reads, "first": {k: first[k] for k in (
            "state", "total", "accepted", "pending", "submitted", "delivered")},
            "last": {k: last[k] for k in ("state", "pending", "submitted", "delivered")},
            "rss_peak_mb": mb(watch.peak_kb), "vmhwm_mb": mb(proc_status(pid).get("VmHWM", 0)),
            "writer_queue_peak_ops": watch.peak_pending_ops}
        cpu0 = proc_cpu(pid)
        with Watcher(pid) as watch:
            exported = export(s, batch_id, "pending")
        exported |= {"gateway_cpu_s": round(proc_cpu(pid) - cpu0, 2), "rss_peak_mb": mb(watch.peak_kb),
                     "vmhwm_mb": mb(proc_status(pid).get("VmHWM", 0))}
        result["export_pending"] = exported
        if mode == "sim" and args.wait_done:
            started = time.perf_counter()
            deadline = time.monotonic() + args.done_timeout
            while time.monotonic() < deadline:
                done, _ = progress(s, batch_id)
                if done["state"] == "done":
                    break
                time.sleep(2)
            result["done"] = {"seconds": round(time.perf_counter() - started, 1), "state": done["state"],
                              "delivered": done["delivered"], "failed": done["failed"]}
            with Watcher(pid) as watch:
                result["export_delivered"] = export(s, batch_id, "delivered") | {"rss_peak_mb": mb(watch.peak_kb)}
        result["final_counts"] = s.counts()
        result["vmhwm_mb"] = mb(proc_status(pid).get("VmHWM", 0))
        result["queue_depth"] = s.metric(f'smsgw_queue_depth{{channel="{CHANNEL}"}}')
        result["db_mb"] = round(sum(p.stat().st_size for p in s.dir.glob("smsgw.db*")) / 2**20, 1)
    finally:
        result["stop"] = s.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=["down", "sim", "both", "forged"], default="down")
    parser.add_argument("--limits", action="store_true", help="frequency limits on (counted per number)")
    parser.add_argument("--wait-done", action="store_true", help="sim mode: wait until the batch is done")
    parser.add_argument("--done-timeout", type=float, default=1800.0)
    parser.add_argument("--binds", type=int, default=2)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--dlr-delay", type=float, default=0.05)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy record the gateway during the upload into DIR")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (config, database, logs)")
    args = parser.parse_args()
    work = Path(__import__("tempfile").mkdtemp(prefix="smsgw-bench-csv-"))
    csv_path = work / "rows.csv"
    write_csv(csv_path, args.rows)
    failed = False
    try:
        for mode in (["down", "sim"] if args.mode == "both" else [args.mode]):
            try:
                result = run_forged(args, csv_path) if mode == "forged" else run_mode(mode, args, csv_path)
                print(json.dumps(result, ensure_ascii=False), flush=True)
            except Exception as exc:
                failed = True
                print(json.dumps({"mode": mode, "error": repr(exc)}), flush=True)
    finally:
        csv_path.unlink(missing_ok=True)
        work.rmdir()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
