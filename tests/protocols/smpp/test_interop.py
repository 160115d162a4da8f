"""Independent decoders: Wireshark's SMPP dissector (tshark) reads what we write, and
python-smpplib, a second SMPP implementation, reads what we write and writes what we
read. Field by field, both directions."""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from protocols.smpp import (
    AlertNotification,
    BindTransceiverResp,
    CancelSm,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    DestAddress,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    SmppPdu,
    Status,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    UnsuccessSme,
    decode,
    encode,
    tlv_value,
)
from protocols.tlv import Tlv
from tests.support.tshark import TSHARK, needs_tshark, write_pcap

from .test_codec import SPEC_BIND

PORT = 2775
SAR = [Tlv(Tag.SAR_MSG_REF_NUM, b"\x01\x02"), Tlv(Tag.SAR_TOTAL_SEGMENTS, b"\x03"),
       Tlv(Tag.SAR_SEGMENT_SEQNUM, b"\x01")]
RECEIPT_TLVS = [Tlv(Tag.RECEIPTED_MESSAGE_ID, b"abc123\0"), Tlv(Tag.MESSAGE_STATE, b"\x02"),
                Tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00\x2a")]
TIME = "240101120000000+"

#: (PDU, {tshark field: expected text}); multiple occurrences are joined with "|"
CASES: list[tuple[SmppPdu, dict[str, str]]] = [
    (decode(SPEC_BIND), {
        "smpp.command_id": "0x00000002", "smpp.sequence_number": "1",
        "smpp.system_id": "SMPP3TEST", "smpp.password": "secret08", "smpp.system_type": "SUBMIT1",
        "smpp.interface_version": "0", "smpp.addr_ton": "1", "smpp.addr_npi": "1",
    }),
    (SubmitSm(sequence=5, service_type="CMT", source_addr_ton=5, source_addr="SENDER",
              dest_addr_ton=1, dest_addr_npi=1, destination_addr="4915112345678",
              registered_delivery=1, data_coding=8, validity_period=TIME,
              tlvs=[*SAR, Tlv(Tag.MESSAGE_PAYLOAD, b"payload"), Tlv(Tag.USER_MESSAGE_REFERENCE, b"\0\x07")]), {
        "smpp.command_id": "0x00000004", "smpp.sequence_number": "5", "smpp.service_type": "CMT",
        "smpp.source_addr_ton": "5", "smpp.source_addr": "SENDER", "smpp.dest_addr_ton": "1",
        "smpp.dest_addr_npi": "1", "smpp.destination_addr": "4915112345678",
        "smpp.regdel.receipt": "1", "smpp.data_coding": "8", "smpp.sm_length": "0",
        "smpp.sar_msg_ref_num": "258", "smpp.sar_total_segments": "3", "smpp.sar_segment_seqnum": "1",
        "smpp.message_payload": b"payload".hex(), "smpp.user_message_reference": "7",
        "smpp.opt_param_tag": "0x020c|0x020e|0x020f|0x0424|0x0204",
    }),
    (SubmitSm(sequence=6, esm_class=0x40, short_message=b"\x05\x00\x03\x01\x02\x01hi"), {
        "smpp.esm.submit.features": "1", "smpp.sm_length": "8",
        "smpp.message": "05000301020168" "69",
    }),
    (SubmitSmResp(sequence=5, message_id="0123456789abcdef"), {
        "smpp.command_id": "0x80000004", "smpp.command_status": "0x00000000",
        "smpp.message_id": "0123456789abcdef",
    }),
    (SubmitSmResp(sequence=5, status=Status.ESME_RTHROTTLED), {
        "smpp.command_status": "0x00000058", "smpp.command_length": "16",
    }),
    (DeliverSm(sequence=7, source_addr="4915112345678", destination_addr="SENDER", esm_class=0x04,
               short_message=b"id:abc123 stat:DELIVRD", tlvs=RECEIPT_TLVS), {
        "smpp.command_id": "0x00000005", "smpp.esm.submit.msg_type": "1",
        "smpp.source_addr": "4915112345678", "smpp.destination_addr": "SENDER",
        "smpp.message": b"id:abc123 stat:DELIVRD".hex(), "smpp.receipted_message_id": "abc123",
        "smpp.message_state": "2", "smpp.network_error.type": "3", "smpp.network_error.code": "42",
    }),
    (DeliverSmResp(sequence=7), {"smpp.command_id": "0x80000005", "smpp.command_length": "17"}),
    (BindTransceiverResp(sequence=1, system_id="SMSC", tlvs=[Tlv(Tag.SC_INTERFACE_VERSION, b"\x34")]), {
        "smpp.command_id": "0x80000009", "smpp.system_id": "SMSC", "smpp.SC_interface_version": "52",
    }),
    (EnquireLink(sequence=11), {"smpp.command_id": "0x00000015", "smpp.sequence_number": "11"}),
    (EnquireLinkResp(sequence=11), {"smpp.command_id": "0x80000015"}),
    (GenericNack(sequence=12, status=Status.ESME_RINVCMDID), {
        "smpp.command_id": "0x80000000", "smpp.command_status": "0x00000003",
    }),
    (Unbind(sequence=13), {"smpp.command_id": "0x00000006"}),
    (UnbindResp(sequence=13), {"smpp.command_id": "0x80000006"}),
    (SubmitMulti(sequence=14, source_addr="S", short_message=b"hi",
                 dest_addresses=[DestAddress(1, 1, 1, "491"), DestAddress(2, dl_name="friends")]), {
        "smpp.command_id": "0x00000021", "smpp.dl_name": "friends", "smpp.sm_length": "2",
        "smpp.destination_addr": "491",
    }),
    (SubmitMultiResp(sequence=14, message_id="m1", unsuccess_smes=[UnsuccessSme(1, 1, "491", 0x45)]), {
        "smpp.message_id": "m1", "smpp.error_status_code": "0x00000045",
    }),
    (QuerySm(sequence=15, message_id="m1", source_addr="S"), {
        "smpp.command_id": "0x00000003", "smpp.message_id": "m1", "smpp.source_addr": "S",
    }),
    (QuerySmResp(sequence=15, message_id="m1", final_date=TIME, message_state=2, error_code=7), {
        "smpp.message_id": "m1", "smpp.message_state": "2", "smpp.error_code": "7",
    }),
    (CancelSm(sequence=16, message_id="m1", source_addr="S", destination_addr="D"), {
        "smpp.command_id": "0x00000008", "smpp.message_id": "m1", "smpp.destination_addr": "D",
    }),
    (ReplaceSm(sequence=17, message_id="m1", source_addr="S", short_message=b"new"), {
        "smpp.command_id": "0x00000007", "smpp.message_id": "m1", "smpp.sm_length": "3",
        "smpp.message": b"new".hex(),
    }),
    (DataSm(sequence=18, source_addr="S", destination_addr="D", tlvs=[Tlv(Tag.MESSAGE_PAYLOAD, b"pp")]), {
        "smpp.command_id": "0x00000103", "smpp.source_addr": "S", "smpp.message_payload": "7070",
    }),
    # Wireshark does not dissect the body of an error response (the 3.4 rule), so the
    # TLVs are checked on a status-0 response.
    (DataSmResp(sequence=18, status=Status.ESME_RDELIVERYFAILURE,
                tlvs=[Tlv(Tag.DELIVERY_FAILURE_REASON, b"\x01")]), {
        "smpp.command_status": "0x000000fe", "smpp.command_length": "22",
    }),
    (DataSmResp(sequence=18, message_id="d1", tlvs=[Tlv(Tag.DELIVERY_FAILURE_REASON, b"\x01")]), {
        "smpp.message_id": "d1", "smpp.delivery_failure_reason": "1",
    }),
    (AlertNotification(sequence=19, source_addr="4917", esme_addr="esme",
                       tlvs=[Tlv(Tag.MS_AVAILABILITY_STATUS, b"\x01")]), {
        "smpp.command_id": "0x00000102", "smpp.esme_addr": "esme", "smpp.ms_availability_status": "1",
    }),
    (Outbind(sequence=20, system_id="smsc", password="pw"), {
        "smpp.command_id": "0x0000000b", "smpp.system_id": "smsc", "smpp.password": "pw",
    }),
]


def tshark_fields(payloads: list[bytes], fields: list[str]) -> list[dict[str, str]]:
    """``tshark -T fields`` keeps every occurrence of a repeated field (the JSON view keeps
    only the last one of duplicate keys)."""
    assert TSHARK is not None
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "smpp.pcap"
        write_pcap(pcap, payloads, PORT)
        cmd = [TSHARK, "-r", str(pcap), "-d", f"tcp.port=={PORT},smpp",
               "-o", "tcp.desegment_tcp_streams:FALSE", "-T", "fields",
               "-E", "occurrence=a", "-E", "aggregator=|"]
        for name in fields:
            cmd += ["-e", name]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]


def _normal(value: str) -> str:
    """tshark prints integers as decimal or hex depending on the field; compare numbers."""
    if value.startswith("0x") and "|" not in value and len(value) <= 6:
        return str(int(value, 16))
    return value


@needs_tshark
def test_tshark_reads_what_we_write() -> None:
    fields = sorted({name for _, expected in CASES for name in expected})
    layers = tshark_fields([encode(pdu) for pdu, _ in CASES], fields)
    assert len(layers) == len(CASES)
    for (pdu, expected), layer in zip(CASES, layers, strict=True):
        for name, value in expected.items():
            assert _normal(layer[name]) == _normal(value), (type(pdu).__name__, name)


# ------------------------------------------------------------------- python-smpplib

smpplib_command = pytest.importorskip("smpplib.command")
smpplib_smpp = pytest.importorskip("smpplib.smpp")


class _Client:
    sequence = 0

    def next_sequence(self) -> int:
        return 1


SMPPLIB_TLVS = {
    Tag.SAR_MSG_REF_NUM: "sar_msg_ref_num", Tag.SAR_TOTAL_SEGMENTS: "sar_total_segments",
    Tag.SAR_SEGMENT_SEQNUM: "sar_segment_seqnum", Tag.MESSAGE_PAYLOAD: "message_payload",
    Tag.RECEIPTED_MESSAGE_ID: "receipted_message_id", Tag.MESSAGE_STATE: "message_state",
    Tag.SC_INTERFACE_VERSION: "sc_interface_version", Tag.USER_MESSAGE_REFERENCE: "user_message_reference",
    Tag.MS_AVAILABILITY_STATUS: "ms_availability_status", Tag.DELIVERY_FAILURE_REASON: "delivery_failure_reason",
    Tag.NETWORK_ERROR_CODE: "network_error_code",
}
#: smpplib declares delivery_failure_reason a C-string in data_sm_resp; the spec says u8 (A.5)
SMPPLIB_MISTYPED = {Tag.DELIVERY_FAILURE_REASON}


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, str):
        return (theirs or b"").decode("latin-1") == ours
    if isinstance(ours, bytes):
        return (theirs or b"") == ours
    return bool(theirs == ours)


def assert_matches_smpplib(pdu: SmppPdu, theirs: Any) -> None:
    assert theirs.sequence == pdu.sequence
    assert theirs.status == getattr(pdu, "status", 0)
    for f in dataclasses.fields(pdu):
        if f.name in ("sequence", "status"):
            continue
        if f.name == "tlvs":
            for tlv in pdu.tlvs:  # type: ignore[attr-defined]
                if tlv.tag in SMPPLIB_MISTYPED:
                    continue
                value = tlv_value(tlv)
                if isinstance(value, tuple):  # smpplib keeps network_error_code raw
                    value = tlv.value
                assert _same(value, getattr(theirs, SMPPLIB_TLVS[tlv.tag])), hex(tlv.tag)
            continue
        assert _same(getattr(pdu, f.name), getattr(theirs, f.name)), f.name


SMPPLIB_READS = [pdu for pdu, _ in CASES if type(pdu).__name__ not in (
    "SubmitMulti", "SubmitMultiResp", "CancelSm", "ReplaceSm", "Outbind", "BindTransmitter")]


@pytest.mark.parametrize("pdu", SMPPLIB_READS, ids=lambda p: type(p).__name__)
def test_smpplib_reads_what_we_write(pdu: SmppPdu) -> None:
    theirs = smpplib_smpp.parse_pdu(encode(pdu), client=_Client())
    assert_matches_smpplib(pdu, theirs)


def _smpplib(name: str, sequence: int, status: int = 0, **fields: Any) -> bytes:
    cmd = smpplib_command.factory(name, client=_Client(), **fields)
    for key, value in fields.items():  # its constructors override some (interface_version)
        setattr(cmd, key, value)
    cmd.sequence = sequence
    cmd.status = status
    return bytes(cmd.generate())


def test_we_read_what_smpplib_writes() -> None:
    bind = decode(_smpplib("bind_transmitter", 1, system_id="SMPP3TEST", password="secret08",
                           system_type="SUBMIT1", interface_version=0, addr_ton=1, addr_npi=1,
                           address_range=""))
    assert bind == decode(SPEC_BIND)
    assert encode(bind) == SPEC_BIND
    submit = decode(_smpplib(
        "submit_sm", 9, source_addr_ton=5, source_addr="SENDER", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr="4915", esm_class=0x40, data_coding=8, registered_delivery=1,
        short_message=b"\x05\x00\x03\x01\x02\x01\x00h", sar_msg_ref_num=258, sar_total_segments=2,
        sar_segment_seqnum=1,
    ))
    assert submit == SubmitSm(
        sequence=9, source_addr_ton=5, source_addr="SENDER", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr="4915", esm_class=0x40, registered_delivery=1, data_coding=8,
        short_message=b"\x05\x00\x03\x01\x02\x01\x00h",
        tlvs=[Tlv(Tag.SAR_MSG_REF_NUM, b"\x01\x02"), Tlv(Tag.SAR_TOTAL_SEGMENTS, b"\x02"),
              Tlv(Tag.SAR_SEGMENT_SEQNUM, b"\x01")],
    )
    receipt = decode(_smpplib("deliver_sm", 3, esm_class=4, short_message=b"id:1",
                              receipted_message_id="abc", message_state=2))
    assert isinstance(receipt, DeliverSm) and receipt.esm_class == 4
    assert receipt.get_tlv(Tag.RECEIPTED_MESSAGE_ID) == b"abc\0"
    assert receipt.get_tlv(Tag.MESSAGE_STATE) == b"\x02"
    assert decode(_smpplib("submit_sm_resp", 9, message_id="id-1")) == SubmitSmResp(sequence=9, message_id="id-1")
    assert decode(_smpplib("deliver_sm_resp", 3)) == DeliverSmResp(sequence=3)
    assert decode(_smpplib("bind_transmitter_resp", 1, status=Status.ESME_RINVPASWD)).status == Status.ESME_RINVPASWD
    assert decode(_smpplib("enquire_link", 4)) == EnquireLink(sequence=4)
    assert decode(_smpplib("generic_nack", 0, status=3)) == GenericNack(sequence=0, status=3)
    assert decode(_smpplib("unbind", 5)) == Unbind(sequence=5)
    data_sm = decode(_smpplib("data_sm", 6, source_addr="S", destination_addr="D", message_payload=b"pp"))
    assert isinstance(data_sm, DataSm) and data_sm.get_tlv(Tag.MESSAGE_PAYLOAD) == b"pp"
    query = decode(_smpplib("query_sm", 7, message_id="m1", source_addr="S"))
    assert query == QuerySm(sequence=7, message_id="m1", source_addr="S")
