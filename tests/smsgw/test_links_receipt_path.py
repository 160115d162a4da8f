"""``SmppLink.inbound`` on receipts against the way it read them before its fast path
(``parse_smpp_receipt`` and the Receipt it builds), and its deliver_sm_resp."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from protocols import smpp
from protocols.receipts import ReceiptError, format_smpp_receipt, is_final, parse_smpp_receipt
from protocols.tlv import Tlv
from smsgw.config import ChannelConfig
from smsgw.link import Receipt
from smsgw.links import SmppLink, _smpp_state_stat

LINK = SmppLink(ChannelConfig("smpp", "smpp", "h", 1, "u", "p"))


def reference_receipt(pdu: Any) -> Receipt | None:
    """The receipt branch of SmppLink.inbound as it was written before (commit 5132d98)."""
    data = smpp.user_data(pdu)
    tlv_id = pdu.get_tlv(smpp.Tag.RECEIPTED_MESSAGE_ID)
    try:
        parsed = parse_smpp_receipt(data)
    except ReceiptError:
        parsed = None
    smsc_id = (tlv_id.strip(b"\0 ").decode("latin-1") if tlv_id else "") or (parsed.id if parsed else None)
    if smsc_id is None:
        return None
    stat = parsed.stat if parsed else _smpp_state_stat(pdu.get_tlv(smpp.Tag.MESSAGE_STATE))
    return Receipt(smsc_id, stat, (parsed.err or "") if parsed else "", stat == "DELIVRD", is_final(stat))


_word = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12)
_appendix_b = st.builds(
    lambda i, stat, err, text: format_smpp_receipt(i, stat, submit_date="2611291200", done_date="2611291201",
                                                   err=err, text=text).encode("latin-1"),
    _word, st.sampled_from(["DELIVRD", "undeliv", "ENROUTE", "acceptd", "", "X Y"]) | _word,
    _word, st.text(st.characters(max_codepoint=0xFF), max_size=25))
_texts = _appendix_b | st.binary(max_size=60) | st.sampled_from([b"", b"id:7 stat:delivrd", b"stat:DELIVRD"])
_tlv_ids = st.none() | st.sampled_from([b"\0", b"", b" 7F\0", b"12345\0\0"]) | st.binary(max_size=10)


@given(text=_texts, tlv_id=_tlv_ids, state=st.none() | st.binary(max_size=2), payload=st.booleans(),
       data_sm=st.booleans(), esm_high=st.sampled_from([0x00, 0x40, 0x80, 0x03]))
def test_receipts_read_as_before(text: bytes, tlv_id: bytes | None, state: bytes | None, payload: bool,
                                 data_sm: bool, esm_high: int) -> None:
    tlvs = []
    if state is not None:
        tlvs.append(Tlv(smpp.Tag.MESSAGE_STATE, state))
    if tlv_id is not None:
        tlvs.append(Tlv(smpp.Tag.RECEIPTED_MESSAGE_ID, tlv_id))
    if payload or data_sm:
        tlvs.append(Tlv(smpp.Tag.MESSAGE_PAYLOAD, text))
    esm = smpp.Esm.RECEIPT | esm_high
    pdu: Any = (smpp.DataSm(sequence=4, esm_class=esm, tlvs=tlvs) if data_sm else
                smpp.DeliverSm(sequence=4, esm_class=esm, short_message=b"" if payload else text, tlvs=tlvs))
    assert LINK.inbound(pdu) == reference_receipt(pdu)


@given(sequence=st.integers(0, 0xFFFFFFFF), ok=st.booleans(), data_sm=st.booleans())
def test_inbound_response(sequence: int, ok: bool, data_sm: bool) -> None:
    pdu: Any = smpp.DataSm(sequence=sequence) if data_sm else smpp.DeliverSm(sequence=sequence)
    status = 0 if ok else smpp.Status.ESME_RX_T_APPN
    expected = (smpp.DataSmResp(sequence=sequence, status=status) if data_sm
                else smpp.DeliverSmResp(sequence=sequence, status=status))
    response = LINK.inbound_response(pdu, ok)
    assert type(response) is type(expected) and response == expected
