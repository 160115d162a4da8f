"""Independent check: Wireshark's CMPP dissector (3.0 layouts only) decodes what we encode.

Its display quirks (PROTOCOLS.md C.6, C.12) are compared around, not trusted:
* Msg_Id ISMG code is shown shifted by 16 instead of 8 (we compare ``gateway >> 8``);
* Src_Id shows only its first 17 of 21 octets (we compare that prefix);
* AuthenticatorSource / AuthenticatorISMG are shown as the label "MD5 Hash", and
  Msg_Content as "SMS Messages", so their octets are not compared (the lengths are);
* repeated Dest_terminal_Id collapse to the last one in the JSON, so the destinations are
  read a second time with ``-T fields -E occurrence=a``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from protocols.cmpp import (
    ActiveTest,
    ActiveTestResp,
    Connect,
    ConnectResp,
    Deliver,
    DeliverResp,
    MsgId,
    Report,
    Submit,
    SubmitResp,
    Terminate,
    TerminateResp,
    authenticator_ismg,
    authenticator_source,
    encode,
    encode_report,
)
from tests.support.tshark import TSHARK, dissect, needs_tshark, write_pcap

PORT = 7890
AUTH = authenticator_source("901234", "secret", 301000000)
MSG_ID = 0x3080000003E90001
SUBMIT = Submit(
    2, msg_id=0, pk_total=2, pk_number=1, registered_delivery=1, msg_level=3, service_id="SVC01",
    fee_user_type=3, fee_terminal_id="8613700000000", fee_terminal_type=1, tp_pid=0, tp_udhi=0,
    msg_fmt=0, msg_src="901234", fee_type="02", fee_code="000010", valid_time="240302000000032+",
    at_time="", src_id="106571234567890123456", dest_terminal_ids=["8613800138000", "8613900139000"],
    dest_terminal_type=0, msg_content=b"hello world", link_id="LINK12345",
)
MO = Deliver(3, msg_id=MSG_ID + 1, dest_id="10657123", service_id="SVC01", src_terminal_id="8613800138000",
             src_terminal_type=1, registered_delivery=0, msg_content=b"mo text", link_id="LNK")
REPORT = Report(MSG_ID, "DELIVRD", "2403010000", "2403010001", "8613800138000", 77)
DLR = Deliver(4, msg_id=MSG_ID + 2, dest_id="10657123", service_id="SVC01", src_terminal_id="8613800138000",
              registered_delivery=1, msg_content=encode_report(REPORT, 3))
PDUS = [
    Connect(1, "901234", AUTH, 0x30, 301000000),
    ConnectResp(1, 0, authenticator_ismg(0, AUTH, "secret", 3), 0x30),
    SUBMIT,
    SubmitResp(2, MSG_ID, 8),
    MO,
    DLR,
    DeliverResp(3, MSG_ID + 1, 0),
    ActiveTest(5),
    ActiveTestResp(5),
    Terminate(6),
    TerminateResp(6),
]


def _msg_id(layer: dict, value: int) -> None:
    parts = MsgId.from_int(value)
    assert int(layer["cmpp.Msg_Id"], 16) == value
    assert layer["cmpp.Msg_Id.timestamp"] == (
        f"{parts.month:02d}/{parts.day:02d} {parts.hour:02d}:{parts.minute:02d}:{parts.second:02d}"
    )
    assert int(layer["cmpp.Msg_Id.ismg_code"]) == parts.gateway >> 8  # display quirk, C.12
    assert int(layer["cmpp.Msg_Id.sequence_id"]) == parts.sequence


@needs_tshark
def test_tshark_decodes_our_cmpp30_pdus() -> None:
    frames = [encode(p, 3) for p in PDUS]
    layers = dissect(frames, port=PORT, proto="cmpp")
    assert len(layers) == len(PDUS)
    for pdu, frame, layer in zip(PDUS, frames, layers, strict=True):
        assert int(layer["cmpp.Total_Length"]) == len(frame)
        assert int(layer["cmpp.Command_Id"], 16) == pdu.command_id
        assert int(layer["cmpp.Sequence_Id"]) == pdu.sequence
    connect, connect_resp, submit, submit_resp, mo, dlr, deliver_resp = layers[:7]

    assert connect["cmpp.connect.Source_Addr"] == "901234"
    assert connect["cmpp.Version"] == "03.00"
    assert connect["cmpp.connect.Timestamp"] == "03/01 00:00:00"
    assert connect_resp["cmpp.connect_resp.Status"] == "0"
    assert connect_resp["cmpp.Version"] == "03.00"

    _msg_id(submit, 0)
    expected = {
        "cmpp.submit.Pk_total": "2", "cmpp.submit.Pk_number": "1",
        "cmpp.submit.Registered_Delivery": "1", "cmpp.submit.Msg_level": "3",
        "cmpp.Servicd_Id": "SVC01", "cmpp.submit.Fee_UserType": "3",
        "cmpp.submit.Fee_terminal_Id": "8613700000000", "cmpp.submit.Fee_terminal_type": "1",
        "cmpp.TP_pId": "0", "cmpp.TP_udhi": "0", "cmpp.Msg_Fmt": "0", "cmpp.submit.Msg_src": "901234",
        "cmpp.submit.FeeType": "02", "cmpp.submit.FeeCode": "000010",
        "cmpp.submit.Valld_Time": "240302000000032+", "cmpp.submit.At_time": "",
        "cmpp.submit.Src_Id": SUBMIT.src_id[:17],  # display quirk: 17 of 21 octets
        "cmpp.submit.DestUsr_tl": "2", "cmpp.submit.Dest_terminal_type": "0",
        "cmpp.Msg_Length": "11", "cmpp.LinkID": "LINK12345",
    }
    assert {k: submit.get(k) for k in expected} == expected
    assert _all_destinations(frames[2]) == SUBMIT.dest_terminal_ids

    _msg_id(submit_resp, MSG_ID)
    assert submit_resp["cmpp.submit_resp.Result"] == "8"

    _msg_id(mo, MSG_ID + 1)
    expected = {
        "cmpp.deliver.Dest_Id": "10657123", "cmpp.Servicd_Id": "SVC01", "cmpp.TP_pId": "0",
        "cmpp.TP_udhi": "0", "cmpp.Msg_Fmt": "0", "cmpp.deliver.Src_terminal_Id": "8613800138000",
        "cmpp.deliver.Src_terminal_type": "1", "cmpp.deliver.Registered_Delivery": "0",
        "cmpp.Msg_Length": "7", "cmpp.LinkID": "LNK",
    }
    assert {k: mo.get(k) for k in expected} == expected

    _msg_id(dlr, MSG_ID + 2)
    expected = {
        "cmpp.deliver.Registered_Delivery": "1", "cmpp.Msg_Length": "71",
        "cmpp.deliver.Report.Status": "DELIVRD", "cmpp.deliver.Report.Submit_time": "2403010000",
        "cmpp.deliver.Report.Done_time": "2403010001", "cmpp.Dest_terminal_Id": "8613800138000",
        "cmpp.Report.SMSC_sequence": "77", "cmpp.LinkID": "",
    }
    assert {k: dlr.get(k) for k in expected} == expected

    _msg_id(deliver_resp, MSG_ID + 1)
    assert deliver_resp["cmpp.deliver_resp.Result"] == "0"


def _all_destinations(frame: bytes) -> list[str]:
    assert TSHARK is not None
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "submit.pcap"
        write_pcap(pcap, [frame], PORT)
        result = subprocess.run(
            [TSHARK, "-r", str(pcap), "-d", f"tcp.port=={PORT},cmpp", "-o", "tcp.desegment_tcp_streams:FALSE",
             "-T", "fields", "-e", "cmpp.Dest_terminal_Id", "-E", "occurrence=a", "-E", "aggregator=|"],
            capture_output=True, text=True, timeout=120, check=True,
        )
    return result.stdout.strip().split("|")
