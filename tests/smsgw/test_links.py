"""How the SMPP link reads a deliver_sm / data_sm by its esm_class message type (bits 5-2,
PROTOCOLS.md A.6): receipts are read as receipts, normal messages as MO, and every other type
is ``Ignored`` (acknowledged and counted by the channel, never an MO text)."""

from __future__ import annotations

import pytest

from protocols import smpp
from protocols.tlv import Tlv
from smsgw.config import ChannelConfig
from smsgw.link import Ignored, MoPart, Receipt
from smsgw.links import SmppLink

LINK = SmppLink(ChannelConfig("smpp", "smpp", "h", 1, "u", "p"))
RECEIPT_TEXT = b"id:7F sub:001 dlvrd:001 submit date:2401010000 done date:2401010000 stat:DELIVRD err:000 text:"
#: an intermediate notification as an SMSC may write it: an id and a stat that looks final
REPORT_TLVS = [Tlv(smpp.Tag.RECEIPTED_MESSAGE_ID, b"7F\0"), Tlv(smpp.Tag.MESSAGE_STATE, b"\5")]


def deliver(esm_class: int, short_message: bytes = b"hello", tlvs: list[Tlv] | None = None) -> smpp.DeliverSm:
    return smpp.DeliverSm(sequence=1, source_addr="13912345678", destination_addr="10690001",
                          esm_class=esm_class, short_message=short_message, tlvs=list(tlvs or []))


@pytest.mark.parametrize(("esm_class", "kind"), [
    (0x08, "sme_delivery_ack"),
    (0x10, "sme_manual_ack"),
    (0x18, "conversation_abort"),
    (0x20, "intermediate_notification"),
    (0x0C, "reserved_0x0C"),
    (0x3C, "reserved_0x3C"),
])
@pytest.mark.parametrize("gsm_bits", [0x00, 0x40, 0x80])  # UDHI and reply path change nothing
@pytest.mark.parametrize("mode_bits", [0x00, 0x03])  # the messaging mode is ignored in a deliver
@pytest.mark.parametrize(("short_message", "tlvs"), [(b"hello", None), (RECEIPT_TEXT, None), (b"", REPORT_TLVS)])
def test_other_message_types_are_ignored_not_mo(esm_class: int, kind: str, gsm_bits: int, mode_bits: int,
                                                short_message: bytes, tlvs: list[Tlv] | None) -> None:
    pdu = deliver(esm_class | gsm_bits | mode_bits, short_message, tlvs)
    assert LINK.inbound(pdu) == Ignored(kind)
    data_sm = smpp.DataSm(sequence=2, esm_class=esm_class | gsm_bits | mode_bits, tlvs=list(tlvs or []))
    assert LINK.inbound(data_sm) == Ignored(kind)
    assert LINK.inbound_response(pdu, ok=True) == smpp.DeliverSmResp(sequence=1, status=0)
    assert LINK.inbound_response(data_sm, ok=True) == smpp.DataSmResp(sequence=2, status=0)


@pytest.mark.parametrize("extra", [0x00, 0x01, 0x40, 0x80])
def test_receipts_and_normal_messages_are_read_as_before(extra: int) -> None:
    assert LINK.inbound(deliver(0x04 | extra, RECEIPT_TEXT)) == Receipt("7F", "DELIVRD", "000", True, True)
    assert LINK.inbound(deliver(0x04 | extra, b"", REPORT_TLVS)) == Receipt("7F", "UNDELIV", "", False, True)
    assert LINK.inbound(deliver(0x04 | extra, b"no id")) is None  # unreadable: counted by the channel
    if extra != 0x40:  # (with UDHI, "hello" would be read as a header)
        mo = LINK.inbound(deliver(extra))
        assert isinstance(mo, MoPart) and (mo.source, mo.dest, mo.text) == ("13912345678", "10690001", "hello")
