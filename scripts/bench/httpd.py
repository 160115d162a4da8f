"""HTTP server benchmark (not a test): smsgw.http serving a trivial JSON route in a child process,
driven over loopback by N keep-alive connections from a raw-socket client for a bounded time.

    .venv/bin/python scripts/bench/httpd.py [--connections 32] [--seconds 8] [--json]

Two scenarios, one after the other on the same server: ``plain`` (POST of a ~200-byte JSON body to
a route without auth) and ``signed`` (the same POST signed per CONTRACT §5, verified by the
router: key lookup, HMAC, nonce cache). Each client is closed-loop (next request once the previous
response is in), so latency includes queueing at the server. The first second is warm-up and is
not counted. The client parses only the status line and Content-Length, so it is not the limit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection

import trio

from smsgw.http.auth import RequestVerifier, sign
from smsgw.http.router import Router
from smsgw.http.server import serve_http
from smsgw.http.types import Request, Response, json_response

KEY_ID, SECRET = "bench", "bench-secret-0123456789"
BODY = json.dumps(
    {
        "to": "13800138000",
        "text": "您的验证码是482913，5分钟内有效。请勿泄露给他人。",
        "signature": "某某科技",
        "client_ref": "bench-0000000001",
        "callback_url": "https://example.com/smsgw/callback",
    },
    ensure_ascii=False,
    separators=(",", ":"),
).encode()
WARMUP_SECONDS = 1.0
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: (\d+)", re.IGNORECASE)
MAX_TOTAL_SECONDS = 20.0


async def server_cpu(request: Request) -> Response:
    return json_response({"cpu_seconds": time.process_time()})


async def accept(request: Request) -> Response:
    message = json.loads(request.body)
    return json_response({"id": "01HBENCH", "status": "accepted", "segments": 1, "to": message["to"]}, 202)


def serve(port_out: Connection | _PrintPort) -> None:
    """Child process: the server, until the parent terminates it."""

    async def main() -> None:
        router = Router(RequestVerifier({KEY_ID: (SECRET, False)}.get))
        router.add("POST", "/bench/plain", accept, summary="unsigned")
        router.add("POST", "/v1/messages", accept, summary="signed", auth="key")
        router.add("GET", "/bench/cpu", server_cpu, summary="server process CPU time")
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_http, router, "127.0.0.1", 0)
            port_out.send(listeners[0].socket.getsockname()[1])

    trio.run(main)


class _PrintPort:
    def send(self, port: int) -> None:
        print(port, flush=True)


def request_bytes(target: str, signed: bool) -> bytes:
    headers = f"POST {target} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    headers += f"Content-Length: {len(BODY)}\r\n"
    if signed:
        for name, value in sign(SECRET, "POST", target, BODY, key_id=KEY_ID).items():
            headers += f"{name}: {value}\r\n"
    return headers.encode() + b"\r\n" + BODY


@dataclass
class Result:
    scenario: str
    connections: int
    seconds: float
    requests: int
    errors: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_us_per_req: float
    body_bytes: int


async def drive(port: int, scenario: str, connections: int, seconds: float) -> Result:
    signed = scenario == "signed"
    target = "/v1/messages" if signed else "/bench/plain"
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    count_from = start + WARMUP_SECONDS
    stop_at = count_from + seconds

    async def client() -> None:
        nonlocal errors
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        buffer = bytearray()
        async with stream:
            while (sent := time.perf_counter()) < stop_at:
                await stream.send_all(request_bytes(target, signed))
                status, _ = await read_response(stream, buffer)
                done = time.perf_counter()
                if sent >= count_from:
                    latencies.append(done - sent)
                    errors += status != 202

    cpu_start = 0.0

    async def cpu_at_window_start() -> None:
        nonlocal cpu_start
        await trio.sleep(count_from - time.perf_counter())
        cpu_start = await server_cpu_seconds(port)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(cpu_at_window_start)
        for _ in range(connections):
            nursery.start_soon(client)
    cpu_used = await server_cpu_seconds(port) - cpu_start
    ordered = sorted(latencies)
    return Result(
        scenario, connections, seconds, len(ordered), errors,
        round(len(ordered) / seconds, 1),
        round(statistics.median(ordered) * 1000, 2),
        round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        round(ordered[-1] * 1000, 2),
        round(cpu_used / len(ordered) * 1e6, 1),
        len(BODY),
    )


async def server_cpu_seconds(port: int) -> float:
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(b"GET /bench/cpu HTTP/1.1\r\nHost: bench\r\n\r\n")
        _, body = await read_response(stream, bytearray())
    return float(json.loads(body)["cpu_seconds"])


async def read_response(stream: trio.SocketStream, buffer: bytearray) -> tuple[int, bytes]:
    """Consume one response from ``buffer`` + the stream; its status code and body."""
    while (head_end := buffer.find(b"\r\n\r\n")) < 0:
        buffer += await stream.receive_some(65536)
    head = bytes(buffer[:head_end])
    length = CONTENT_LENGTH.search(head)
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head!r}")
    total = head_end + 4 + int(length.group(1))
    while len(buffer) < total:
        buffer += await stream.receive_some(65536)
    body = bytes(buffer[head_end + 4 : total])
    del buffer[:total]
    return int(head[9:12]), body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per scenario")
    parser.add_argument("--scenario", choices=["plain", "signed", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")
    parser.add_argument(
        "--serve-only", action="store_true", help="only run the server, print its port (for wrk or a profiler)"
    )
    args = parser.parse_args()
    if args.serve_only:
        serve(_PrintPort())
        return 0
    scenarios = ["plain", "signed"] if args.scenario == "both" else [args.scenario]
    if len(scenarios) * (args.seconds + WARMUP_SECONDS) > MAX_TOTAL_SECONDS:
        parser.error(f"the run would exceed {MAX_TOTAL_SECONDS} s; lower --seconds")

    receiver, sender = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(sender,), daemon=True)
    server.start()
    try:
        port = receiver.recv()
        for scenario in scenarios:
            result = trio.run(drive, port, scenario, args.connections, args.seconds)
            if args.json:
                print(json.dumps(asdict(result)))
            else:
                print(
                    f"{result.scenario:>6}: {result.req_per_s:>8.0f} req/s  p50 {result.p50_ms} ms  "
                    f"p99 {result.p99_ms} ms  max {result.max_ms} ms  "
                    f"server CPU {result.server_cpu_us_per_req} µs/req  ({result.requests} requests, "
                    f"{result.errors} errors, {result.connections} connections, {result.body_bytes}-byte body)"
                )
    finally:
        server.terminate()
        server.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
