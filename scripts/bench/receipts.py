"""The receipt path of the daemon's main process, without sockets or database (issue 4).

Per SMPP delivery receipt, as ``_Connection.inbound_worker`` does it: decode the deliver_sm
frame, ``SmppLink.inbound``, ``count_receipt``, ``Dispatcher.inbound`` (matched in the sent
map, its ops handed to a fake store that keeps them), the deliver_sm_resp built and encoded.
10 % of the receipts are UNDELIV, every one names a one-part message.

    .venv/bin/python scripts/bench/receipts.py [--receipts N] [--repeat R] [--only-link] [--digest]

Prints the best CPU time per receipt. For figures that do not depend on the load, count
instructions: run it under ``valgrind --tool=callgrind`` with ``--repeat 1`` and ``--repeat 2``;
the difference of the totals is one run. ``--digest`` prints hashes of the ops and the
responses, to check that a change leaves them as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from protocols import smpp
from protocols.tlv import Tlv
from smsgw.config import load
from smsgw.dispatch import Dispatcher, MessageMeta
from smsgw.link import Receipt
from smsgw.store.ids import IdGenerator

BATCH = 50  # receipts read together by the reader
WALL = 1764390000.0


class FakeStore:
    def __init__(self) -> None:
        self.ops: list[Any] = []

    async def read(self, fn: Any, *args: Any) -> dict[str, Any]:
        return {}

    async def execute(self, ops: list[Any]) -> None:
        self.ops.append(ops)

    def execute_nowait(self, ops: list[Any]) -> None:
        self.ops.append(ops)


def frames(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        message_id = str(1000000 + i)
        stat = "DELIVRD" if i % 10 else "UNDELIV"
        text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2611291200 done date:2611291201 stat:{stat} "
                f"err:000 text:Hello world, your co").encode()
        pdu = smpp.DeliverSm(sequence=i + 1, source_addr="8613800138000", destination_addr="10690000", esm_class=4,
                             short_message=text,
                             tlvs=[Tlv(smpp.Tag.RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                                   Tlv(smpp.Tag.MESSAGE_STATE, b"\x02" if i % 10 else b"\x05")])
        out.append(smpp.encode(pdu))
    return out


async def bench(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the tests' config writer
    from tests.e2e.harness import closed_port, write_config

    store = FakeStore()
    config = load(write_config(Path(tempfile.mkdtemp()), {"smpp": closed_port()}))
    dispatcher = Dispatcher(config, store, IdGenerator(0), wall_clock=lambda: WALL)  # type: ignore[arg-type]
    name = next(n for n, link in dispatcher.links.items() if type(link).__name__ == "SmppLink")
    channel, link = dispatcher.channels[name], dispatcher.links[name]
    data, out, best = frames(args.receipts), [], float("inf")
    for _ in range(args.repeat):
        dispatcher._sent.clear()
        store.ops.clear()
        out.clear()
        for i in range(args.receipts):
            meta = MessageMeta(i + 1, "key", "+8613800138000", None, None, ["submitted"], sent_at=WALL - 10)
            dispatcher._sent[(name, str(1000000 + i))] = (meta, 1)
        started = time.process_time()
        for b in range(0, args.receipts, BATCH):
            pdus = [smpp.decode(frame) for frame in data[b:b + BATCH]]
            items: list[Any] = []
            for pdu in pdus:
                item = link.inbound(pdu)
                items.append(item)
                if isinstance(item, Receipt):
                    channel.stats.count_receipt(item.stat)
            if args.digest:
                out.append(repr(items))
            if not args.only_link:
                await dispatcher.inbound(name, items)
            for pdu in pdus:
                out.append(smpp.encode(link.inbound_response(pdu, ok=True)))
        best = min(best, time.process_time() - started)
    print(f"{best / args.receipts * 1e6:.2f} µs per receipt (best of {args.repeat}), "
          f"{sum(len(ops) for ops in store.ops)} ops")
    if args.digest:
        names: dict[int, str] = {}
        ops = [(names.setdefault(id(s), str(s)), p) for batch in store.ops for s, p in batch]
        print("ops", hashlib.sha1(repr(ops).encode()).hexdigest())
        print("items and responses", hashlib.sha1(repr(out).encode()).hexdigest())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only-link", action="store_true", help="leave out Dispatcher.inbound")
    parser.add_argument("--digest", action="store_true")
    trio.run(bench, parser.parse_args())


if __name__ == "__main__":
    main()
