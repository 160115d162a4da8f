"""Codec benchmark (issue 2): encode and decode time of the PDUs sent and received per message.

    .venv/bin/python scripts/bench/codec.py [--json] [--number N]

Prints ``{"<protocol>.<pdu>": {"encode_us": x, "decode_us": y}, ...}`` (best of several
repeats, microseconds per PDU). Target: encode + decode <= 8 us for each.
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from typing import Any

from protocols import cmpp, smgp, smpp
from protocols.receipts import format_smpp_receipt
from protocols.text import Alphabet, split
from protocols.tlv import Tlv

TEXT = "您的验证码是123456，5分钟内有效。请勿泄露给他人。" * 3
PART = split(TEXT, Alphabet.UCS2, reference=7)[0]


def smpp_pdus() -> dict[str, Any]:
    receipt = format_smpp_receipt("1234567890", "DELIVRD", submit_date="2611271200", done_date="2611271201",
                                  text="hello")
    return {
        "submit_sm": smpp.SubmitSm(sequence=1, source_addr="10690000", source_addr_ton=1, source_addr_npi=1,
                                   destination_addr="8613800138000", dest_addr_ton=1, dest_addr_npi=1,
                                   esm_class=0x40, registered_delivery=1, data_coding=8,
                                   short_message=PART.user_data),
        "submit_sm_resp": smpp.SubmitSmResp(sequence=1, message_id="1234567890"),
        "deliver_sm": smpp.DeliverSm(sequence=2, source_addr="8613800138000", destination_addr="10690000",
                                     esm_class=0x04, short_message=receipt.encode(),
                                     tlvs=[Tlv(smpp.Tag.RECEIPTED_MESSAGE_ID, b"1234567890\0"),
                                           Tlv(smpp.Tag.MESSAGE_STATE, b"\x02")]),
        "deliver_sm_resp": smpp.DeliverSmResp(sequence=2),
    }


def cmpp_pdus(version: int) -> dict[str, Any]:
    report = cmpp.encode_report(cmpp.Report(msg_id=0x3080000003E90001, stat="DELIVRD", submit_time="2611271200",
                                            done_time="2611271201", dest_terminal_id="13800138000"), version)
    return {
        "submit": cmpp.Submit(sequence=1, pk_total=PART.total, pk_number=1, registered_delivery=1,
                              service_id="SMSGW", tp_udhi=1, msg_fmt=8, msg_src="901234", fee_type="01",
                              fee_code="000000", src_id="10690000", dest_terminal_ids=["13800138000"],
                              msg_content=PART.user_data),
        "submit_resp": cmpp.SubmitResp(sequence=1, msg_id=0x3080000003E90001),
        "deliver": cmpp.Deliver(sequence=2, msg_id=0x3080000003E90002, dest_id="10690000",
                                src_terminal_id="13800138000", registered_delivery=1, msg_content=report),
        "deliver_resp": cmpp.DeliverResp(sequence=2, msg_id=0x3080000003E90002),
    }


def smgp_pdus() -> dict[str, Any]:
    msg_id = smgp.build_msg_id("010061", "11271200", 12345)
    report = smgp.encode_report(smgp.Report(msg_id=msg_id, stat="DELIVRD", submit_date="2611271200",
                                            done_date="2611271201", text=smgp.report_text(b"hello")))
    submit = smgp.Submit(sequence=1, msg_type=6, need_report=1, service_id="SMSGW", fee_type="00",
                         fee_code="000000", msg_format=8, src_term_id="10690000", dest_term_ids=["13300000000"],
                         msg_content=PART.user_data)
    submit.tp_udhi, submit.pk_total, submit.pk_number = 1, PART.total, 1
    return {
        "submit": submit,
        "submit_resp": smgp.SubmitResp(sequence=1, msg_id=msg_id),
        "deliver": smgp.Deliver(sequence=2, msg_id=msg_id, is_report=1, recv_time="20261127120100",
                                src_term_id="13300000000", dest_term_id="10690000", msg_content=report),
        "deliver_resp": smgp.DeliverResp(sequence=2, msg_id=msg_id),
    }


def measure(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--number", type=int, default=20000, help="calls per timing repeat")
    args = parser.parse_args()
    suites: list[tuple[str, dict[str, Any], Callable[[Any], bytes], Callable[[bytes], Any]]] = [
        ("smpp", smpp_pdus(), smpp.encode, smpp.decode),
        ("cmpp2", cmpp_pdus(2), lambda p: cmpp.encode(p, version=2), lambda b: cmpp.decode(b, version=2)),
        ("cmpp3", cmpp_pdus(3), lambda p: cmpp.encode(p, version=3), lambda b: cmpp.decode(b, version=3)),
        ("smgp", smgp_pdus(), smgp.encode, smgp.decode),
    ]
    results: dict[str, dict[str, float]] = {}
    for protocol, pdus, encode, decode in suites:
        for name, pdu in pdus.items():
            wire = encode(pdu)
            assert decode(wire) == pdu, f"{protocol}.{name} does not round-trip"
            results[f"{protocol}.{name}"] = {
                "encode_us": round(measure(lambda p=pdu, e=encode: e(p), args.number), 2),
                "decode_us": round(measure(lambda w=wire, d=decode: d(w), args.number), 2),
            }
    if args.json:
        print(json.dumps(results))
        return
    for key, value in results.items():
        total = value["encode_us"] + value["decode_us"]
        print(f"{key:<24} encode {value['encode_us']:6.2f} us  decode {value['decode_us']:6.2f} us"
              f"  total {total:6.2f} us {'ok' if total <= 8 else 'OVER 8 us'}")


if __name__ == "__main__":
    main()
