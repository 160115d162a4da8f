"""Each link's ``submit_result`` (its OK answer taken before any description is looked up) against
the general judgement written out in full: the same outcome, code, description and operator id for
every status."""

from __future__ import annotations

from typing import Any

import pytest

from protocols import cmpp, smgp, smpp
from smsgw.config import ChannelConfig
from smsgw.link import Outcome, SubmitResult
from smsgw.links import _SMPP_THROTTLED, _SMPP_TRANSIENT, CmppLink, SmgpLink, SmppLink

STATUSES = [*range(0, 300), 0x400, 0xFFFF, 0xFFFFFFFF]


def smpp_general(response: Any) -> SubmitResult:
    status = response.status
    code = f"0x{status:08X}"
    description = f"{smpp.status_name(status)}: {smpp.status_description(status)}"
    if status == 0 and type(response) is smpp.SubmitSmResp:
        return SubmitResult(Outcome.OK, code, "ok", response.message_id)
    if status in _SMPP_THROTTLED:
        return SubmitResult(Outcome.THROTTLED, code, description)
    if status in _SMPP_TRANSIENT or status == 0:
        return SubmitResult(Outcome.TRANSIENT, code, description)
    return SubmitResult(Outcome.PERMANENT, code, description)


def cmpp_general(response: Any) -> SubmitResult:
    result = response.status
    code = str(result)
    try:
        description = cmpp.Result(result).description
    except ValueError:
        description = "vendor-defined error" if 100 <= result <= 199 else "other error"
    if result == 0:
        return SubmitResult(Outcome.OK, code, "ok", str(response.msg_id))
    if result == cmpp.Result.FLOW_CONTROL:
        return SubmitResult(Outcome.THROTTLED, code, description)
    if result == cmpp.Result.DUPLICATE_SEQUENCE or result >= 14:
        return SubmitResult(Outcome.TRANSIENT, code, description)
    return SubmitResult(Outcome.PERMANENT, code, description)


def smgp_general(response: Any) -> SubmitResult:
    status = response.status
    code = str(status)
    description = smgp.status_description(status)
    if status == 0:
        return SubmitResult(Outcome.OK, code, "ok", smgp.msg_id_hex(response.msg_id))
    if status == smgp.Status.SYSTEM_BUSY:
        return SubmitResult(Outcome.THROTTLED, code, description)
    if status == smgp.Status.TOO_MANY_CONNECTIONS or status == 12:
        return SubmitResult(Outcome.TRANSIENT, code, description)
    return SubmitResult(Outcome.PERMANENT, code, description)


@pytest.mark.parametrize("status", STATUSES)
def test_smpp(status: int) -> None:
    link = SmppLink(ChannelConfig("smpp", "smpp", "h", 1, "u", "p"))
    for response in (smpp.SubmitSmResp(sequence=1, status=status, message_id="0a1B"),
                     smpp.GenericNack(sequence=1, status=status)):
        assert link.submit_result(response) == smpp_general(response)


@pytest.mark.parametrize("status", [s for s in STATUSES if s <= 0xFFFFFFFF])
def test_cmpp(status: int) -> None:
    link = CmppLink(ChannelConfig("cmpp", "cmpp", "h", 1, "u", "p"))
    response = cmpp.SubmitResp(sequence=1, msg_id=0x123456789, result=status)
    assert link.submit_result(response) == cmpp_general(response)


@pytest.mark.parametrize("status", STATUSES)
def test_smgp(status: int) -> None:
    link = SmgpLink(ChannelConfig("smgp", "smgp", "h", 1, "u", "p"))
    response = smgp.SubmitResp(sequence=1, msg_id=bytes(range(10)), status=status)
    assert link.submit_result(response) == smgp_general(response)
