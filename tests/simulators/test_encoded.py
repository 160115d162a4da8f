"""The frames the adapters write themselves (receipts, accepted submit responses) are byte
for byte what the codec writes for the PDU dataclass the simulator used to build, and an
input that does not fit still reaches the codec (same errors as before)."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import cmpp, smgp, smpp
from protocols.errors import LocalProtocolError, RemoteProtocolError, WindowFull
from protocols.receipts import format_smpp_receipt
from protocols.session import Role, State
from protocols.text import Alphabet, decode
from protocols.tlv import Tlv
from simulators.adapter import Accepted, SubmitInfo, decode_text, stamp
from simulators.cli import adapter_for
from simulators.config import SimConfig
from simulators.encoded import Encoded

STATS = ["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN", "ACCEPTD", "ENROUTE", "MK:0001",
         "delivrd", "A-VERY-LONG-STAT", "ÉCHOUÉ", "失败"]
SMPP_STATES = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8,
               "ENROUTE": 1}
SMPP_ERR = {"DELIVRD": "000", "EXPIRED": "001", "UNDELIV": "001", "REJECTD": "002", "DELETED": "003",
            "UNKNOWN": "999"}
SMGP_ERR = {"DELIVRD": "000", "EXPIRED": "001", "UNDELIV": "004", "REJECTD": "005", "DELETED": "006",
            "UNKNOWN": "999"}
WALL = 1_700_000_000.0

addresses = st.one_of(
    st.from_regex(r"\A[0-9]{1,20}\Z"),
    st.text(max_size=40),  # too long, non-latin-1, NULs: the codec's business
)
texts = st.text(max_size=80)
datas = st.binary(max_size=160)


def _wire(adapter: Any, pdu: Any, sequence: int) -> bytes:
    pdu.sequence = sequence
    return adapter.encode(pdu) if isinstance(pdu, Encoded) else _codec(adapter, pdu)


def _codec(adapter: Any, pdu: Any) -> bytes:
    if adapter.name == "cmpp":
        return cmpp.encode(pdu, version=adapter.version)
    return smpp.encode(pdu) if adapter.name == "smpp" else smgp.encode(pdu)


def _same(adapter: Any, got: Any, expected: Any, sequence: int) -> None:
    """Both encode to the same bytes, or both fail to encode."""
    try:
        want = _wire(adapter, expected, sequence)
    except LocalProtocolError:
        assert not isinstance(got, Encoded)
        with pytest.raises(LocalProtocolError):
            _wire(adapter, got, sequence)
        return
    assert _wire(adapter, got, sequence) == want


# ---------------------------------------------------------------- the old builders


def smpp_receipt(config: SimConfig, info: SubmitInfo, accepted: Accepted, stat: str, done: float) -> Any:
    if info.fields.get("registered_delivery", 1) & 0x03 == 0x02 and stat == "DELIVRD":
        return None
    number = accepted.wire_id
    style = config.dlr_id_format or config.id_format
    receipt_id = f"{number:08X}" if style == "hex" else str(number)
    text = format_smpp_receipt(receipt_id, stat, submit_date=stamp(accepted.submit_time, "%y%m%d%H%M"),
                               done_date=stamp(done, "%y%m%d%H%M"), err=SMPP_ERR.get(stat, "999"),
                               text=info.text[:20])
    return smpp.DeliverSm(
        source_addr=info.dests[0] if info.dests else "", destination_addr=info.source, esm_class=0x04,
        short_message=text.encode("ascii", "replace"),
        tlvs=[Tlv(0x001E, receipt_id.encode() + b"\0"), Tlv(0x0427, bytes((SMPP_STATES.get(stat, 7),)))],
    )


def cmpp_receipt(version: int, info: SubmitInfo, accepted: Accepted, stat: str, done: float, msg_id: int) -> Any:
    dest = info.dests[0] if info.dests else ""
    report = cmpp.Report(msg_id=accepted.wire_id, stat=stat[:7], submit_time=stamp(accepted.submit_time, "%y%m%d%H%M"),
                         done_time=stamp(done, "%y%m%d%H%M"), dest_terminal_id=dest,
                         smsc_sequence=accepted.wire_id & 0xFFFF)
    return cmpp.Deliver(msg_id=msg_id, dest_id=info.source, src_terminal_id=dest, registered_delivery=1,
                        msg_content=cmpp.encode_report(report, version))


def smgp_receipt(info: SubmitInfo, accepted: Accepted, stat: str, done: float, msg_id: bytes) -> Any:
    report = smgp.Report(msg_id=accepted.wire_id, stat=stat[:7], err=SMGP_ERR.get(stat, "006"),
                         submit_date=stamp(accepted.submit_time, "%y%m%d%H%M"), done_date=stamp(done, "%y%m%d%H%M"),
                         text=smgp.report_text(info.data))
    return smgp.Deliver(msg_id=msg_id, is_report=1, msg_format=0, recv_time=stamp(done, "%Y%m%d%H%M%S"),
                        src_term_id=info.dests[0] if info.dests else "", dest_term_id=info.source,
                        msg_content=smgp.encode_report(report))


def _built(build: Any) -> Any:
    """What ``build()`` returns, or the LocalProtocolError it raises."""
    try:
        return build()
    except LocalProtocolError as exc:
        return exc


def _info(source: str, dest: str, text: str, data: bytes, registered_delivery: int) -> SubmitInfo:
    return SubmitInfo(source, [dest], data, 0, text, True, None, {"registered_delivery": registered_delivery})


# ------------------------------------------------------------------------- tests


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(source=addresses, dest=addresses, text=texts, stat=st.sampled_from(STATS),
       id_format=st.sampled_from(["dec", "hex"]), dlr_id_format=st.sampled_from([None, "dec", "hex"]),
       registered_delivery=st.integers(0, 3), delay=st.floats(0, 200_000), sequence=st.integers(1, 0x7FFFFFFF))
def test_smpp_receipt_is_what_the_codec_writes(source: str, dest: str, text: str, stat: str, id_format: str,
                                               dlr_id_format: str | None, registered_delivery: int, delay: float,
                                               sequence: int) -> None:
    config = SimConfig(protocol="smpp", id_format=id_format, dlr_id_format=dlr_id_format)
    adapter = adapter_for(config)
    info = _info(source, dest, text, b"", registered_delivery)
    accepted = adapter.new_message_id(WALL)
    got = adapter.receipt(info, accepted, stat, WALL + delay)
    expected = smpp_receipt(config, info, accepted, stat, WALL + delay)
    if expected is None:
        assert got is None
        return
    _same(adapter, got, expected, sequence)


@pytest.mark.parametrize("version", [2, 3])
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(source=addresses, dest=addresses, stat=st.sampled_from(STATS), delay=st.floats(0, 200_000),
       sequence=st.integers(0, 0xFFFFFFFF))
def test_cmpp_receipt_is_what_the_codec_writes(version: int, source: str, dest: str, stat: str, delay: float,
                                               sequence: int) -> None:
    adapter = adapter_for(SimConfig(protocol="cmpp", cmpp_version=version))
    info = _info(source, dest, "", b"", 1)
    accepted = adapter.new_message_id(WALL)
    got = _built(lambda: adapter.receipt(info, accepted, stat, WALL + delay))
    # the Deliver's own Msg_Id is the adapter's next one: read it back from what it wrote
    msg_id = cmpp.decode(adapter.encode(got), version).msg_id if isinstance(got, Encoded) else getattr(got, "msg_id", 0)
    expected = _built(lambda: cmpp_receipt(version, info, accepted, stat, WALL + delay, msg_id))
    if isinstance(expected, LocalProtocolError):
        assert isinstance(got, LocalProtocolError) and str(got) == str(expected)
        return
    _same(adapter, got, expected, sequence)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(source=addresses, dest=addresses, data=datas, stat=st.sampled_from(STATS), delay=st.floats(0, 200_000),
       sequence=st.integers(0, 0xFFFFFFFF))
def test_smgp_receipt_is_what_the_codec_writes(source: str, dest: str, data: bytes, stat: str, delay: float,
                                               sequence: int) -> None:
    adapter = adapter_for(SimConfig(protocol="smgp"))
    info = _info(source, dest, "", data, 1)
    accepted = adapter.new_message_id(WALL)
    got = _built(lambda: adapter.receipt(info, accepted, stat, WALL + delay))
    msg_id = smgp.decode(adapter.encode(got)).msg_id if isinstance(got, Encoded) else getattr(got, "msg_id", b"")
    expected = _built(lambda: smgp_receipt(info, accepted, stat, WALL + delay, msg_id))
    if isinstance(expected, LocalProtocolError):
        assert isinstance(got, LocalProtocolError) and str(got) == str(expected)
        return
    _same(adapter, got, expected, sequence)


def test_message_ids_are_what_the_protocol_helpers_build() -> None:
    """Ids cached per second (CMPP) / minute (SMGP) equal the ones built afresh."""
    cmpp_adapter = adapter_for(SimConfig(protocol="cmpp", gateway_code=4321))
    smgp_adapter = adapter_for(SimConfig(protocol="smgp"))
    for step in range(400):
        wall = WALL + step * 0.7
        value = cmpp_adapter.new_message_id(wall).wire_id
        parts = cmpp.MsgId.from_int(value)
        assert value == cmpp.make_msg_id((parts.month, parts.day, parts.hour, parts.minute, parts.second), 4321,
                                         parts.sequence)
        assert parts.sequence == (step + 1) & 0xFFFF
        raw = smgp_adapter.new_message_id(wall).wire_id
        found = smgp.parse_msg_id(raw)
        assert raw == smgp.build_msg_id("010061", stamp(wall, "%m%d%H%M"), found.sequence)


@pytest.mark.parametrize("protocol", ["smpp", "cmpp", "smgp"])
def test_submit_response_is_what_the_codec_writes(protocol: str) -> None:
    adapter = adapter_for(SimConfig(protocol=protocol))
    request = {"smpp": smpp.SubmitSm, "cmpp": cmpp.Submit, "smgp": smgp.Submit}[protocol](sequence=0x01020304)
    accepted = adapter.new_message_id(WALL)
    got = adapter.submit_response(request, 0, accepted)
    assert isinstance(got, Encoded)
    expected = {
        "smpp": lambda: smpp.SubmitSmResp(sequence=request.sequence, message_id=accepted.text_id),
        "cmpp": lambda: cmpp.SubmitResp(sequence=request.sequence, msg_id=accepted.wire_id, result=0),
        "smgp": lambda: smgp.SubmitResp(sequence=request.sequence, msg_id=accepted.wire_id, status=0),
    }[protocol]()
    assert adapter.encode(got) == _codec(adapter, expected)


@pytest.mark.parametrize("protocol", ["smpp", "cmpp", "smgp"])
def test_a_session_sends_an_encoded_request_with_its_own_sequence(protocol: str) -> None:
    """Sent, resent after its session closed: each time with the sending session's number."""
    adapter = adapter_for(SimConfig(protocol=protocol))
    receipt = adapter.receipt(_info("10690000", "13800138000", "hi", b"hi", 1), adapter.new_message_id(WALL),
                              "DELIVRD", WALL)
    decode = {"smpp": smpp.decode, "cmpp": cmpp.decode, "smgp": smgp.decode}[protocol]
    for first in (7, 1234):
        session = adapter.new_session(0.0)
        session.state = State.BOUND_TRX  # white-box: only the sending matters here
        session._next_sequence._next = first
        assert session.role is Role.SERVER
        assert session.send(receipt, 0.0, context="ctx") == first
        frame = session.data_to_send()
        assert decode(frame).sequence == first
        assert session.window.peek(first).context == "ctx"  # type: ignore[union-attr]


@settings(max_examples=300)
@given(data=st.binary(max_size=300), alphabet=st.sampled_from(list(Alphabet)))
def test_decode_text_is_what_protocols_text_decodes(data: bytes, alphabet: Alphabet) -> None:
    assert decode_text(data, alphabet) == decode(data, alphabet)


@settings(max_examples=300)
@given(sequence=st.integers(0, 0xFFFFFFFF), status=st.integers(0, 0xFFFFFFFF),
       body=st.one_of(st.just(b"\0"), st.binary(min_size=1, max_size=1), st.binary(max_size=12)),
       command_id=st.sampled_from([0x80000005, 0x80000004, 0x00000005, 0x80000000]))
def test_smpp_session_reads_a_deliver_sm_resp_as_the_codec_does(sequence: int, status: int, body: bytes,
                                                                command_id: int) -> None:
    """The session's own reading of the usual deliver_sm_resp gives the codec's PDU, and
    every other frame (or the codec's error) is still the codec's."""
    frame = struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body
    session = adapter_for(SimConfig(protocol="smpp")).new_session(0.0)
    expected = _built_remote(lambda: smpp.decode(frame))
    got = _built_remote(lambda: session._decode(frame))  # type: ignore[attr-defined]
    if isinstance(expected, RemoteProtocolError):
        assert isinstance(got, RemoteProtocolError) and str(got) == str(expected)
        return
    assert got == expected and type(got) is type(expected)


def _built_remote(build: Any) -> Any:
    try:
        return build()
    except RemoteProtocolError as exc:
        return exc


@pytest.mark.parametrize("protocol", ["smpp", "cmpp", "smgp"])
def test_an_encoded_response_goes_through_the_session_rules(protocol: str) -> None:
    """Queued as it is; traced when a tracer is set; refused by a closed session."""
    adapter = adapter_for(SimConfig(protocol=protocol))
    request = {"smpp": smpp.SubmitSm, "cmpp": cmpp.Submit, "smgp": smgp.Submit}[protocol](sequence=0x01020304)
    response = adapter.submit_response(request, 0, adapter.new_message_id(WALL))
    traced: list[Any] = []
    session = adapter.new_session(0.0)
    assert session.send(response, 0.0) == 0x01020304
    assert session.data_to_send() == adapter.encode(response)
    session.tracer = lambda direction, pdu: traced.append((direction, pdu))
    session.send(response, 0.0)
    assert traced == [("out", response)] and session.data_to_send() == adapter.encode(response)
    session.connection_lost()
    with pytest.raises(LocalProtocolError):
        session.send(response, 0.0)


@pytest.mark.parametrize("protocol", ["smpp", "cmpp", "smgp"])
def test_an_encoded_request_goes_through_the_session_rules(protocol: str) -> None:
    """Refused before a bind and by a closed session; WindowFull when no slot is free."""
    adapter = adapter_for(SimConfig(protocol=protocol))
    receipt = adapter.receipt(_info("10690000", "13800138000", "hi", b"hi", 1), adapter.new_message_id(WALL),
                              "DELIVRD", WALL)
    session = adapter.new_session(0.0)
    with pytest.raises(LocalProtocolError):
        session.send(receipt, 0.0)  # not bound yet
    session.state = State.BOUND_TRX  # white-box: only the sending matters here
    for _ in range(session.window.size):
        session.send(receipt, 0.0)
    with pytest.raises(WindowFull):
        session.send(receipt, 0.0)
    session.connection_lost()
    with pytest.raises(LocalProtocolError):
        session.send(receipt, 0.0)
