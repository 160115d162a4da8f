"""The failure taxonomy: one case per code family, the precedence rules, and that any strings
classify without raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.taxonomy import REASONS, classify, raw_code


@pytest.mark.parametrize(("status", "error_code", "stat", "err", "protocol", "reason"), [
    # the message status decides first
    ("delivered", None, "DELIVRD", "000", "smpp", "delivered"),
    ("expired", "validity_expired", None, None, None, "expired"),
    ("expired", "no_receipt", None, None, "cmpp3", "expired"),
    ("expired", "EXPIRED", "EXPIRED", "001", "smgp", "expired"),
    ("rejected", "blacklisted", None, None, None, "rejected"),
    # receipt stat words, any case
    ("failed", "UNDELIV", "UNDELIV", "001", "smpp", "unreachable"),
    ("failed", "rejectd", "rejectd", "", "smpp", "blocked"),
    ("failed", "DELETED", "DELETED", "", "smpp", "unknown"),
    ("failed", "MBBLACK", "MBBLACK", "", "cmpp3", "blocked"),
    ("failed", "KEYWORD", "KEYWORD", "", "cmpp3", "content_rejected"),
    # SMPP submit_sm_resp command_status
    ("failed", "0x0000000B", None, "0x0000000B", "smpp", "empty_number"),
    ("failed", "0x00000058", None, None, "smpp", "throttled"),
    ("failed", "0x00000014", None, None, None, "throttled"),
    ("failed", "0x000000fe", None, None, "smpp", "unreachable"),
    ("failed", "0x00000101", None, None, "smpp", "blocked"),
    ("failed", "0x00000045", None, None, "smpp", "unknown"),
    ("failed", "0x00000401", None, None, "smpp", "unknown"),
    # CMPP Submit_Resp Result (protocol needed: bare numbers)
    ("failed", "13", None, "13", "cmpp3", "empty_number"),
    ("failed", "8", None, None, "cmpp2", "throttled"),
    ("failed", "6", None, None, "cmpp3", "unknown"),
    ("failed", "13", None, None, None, "unknown"),
    # SMGP Submit_Resp Status
    ("failed", "47", None, None, "smgp", "empty_number"),
    ("failed", "1", None, None, "smgp", "throttled"),
    ("failed", "74", None, None, "smgp", "blocked"),
    ("failed", "75", None, None, "smgp", "throttled"),
    ("failed", "58", None, None, "smgp", "unknown"),
    # SMGP receipt err beats the stat word
    ("failed", "UNDELIV", "UNDELIV", "004", "smgp", "empty_number"),
    ("failed", "REJECTD", "REJECTD", "005", "smgp", "blocked"),
    ("failed", "UNDELIV", "UNDELIV", "002", "smgp", "unreachable"),
    ("failed", "UNDELIV", "UNDELIV", "006", "smgp", "unreachable"),  # system error: the stat word decides
    ("failed", "UNDELIV", "UNDELIV", "004", "smpp", "unreachable"),  # SMPP err is vendor-defined
    # CMPP families: documented numbers, then the family default
    ("failed", "MK:0001", "MK:0001", "", "cmpp3", "empty_number"),
    ("failed", "mk:0024", "mk:0024", "", "cmpp3", "unreachable"),
    ("failed", "MK:0036", "MK:0036", "", "cmpp3", "unknown"),
    ("failed", "MK:1004", "MK:1004", "", "cmpp3", "content_rejected"),
    ("failed", "MK:4321", "MK:4321", "", "cmpp3", "unreachable"),
    ("failed", "MK00001", "MK00001", "", "cmpp3", "empty_number"),
    ("failed", "MI:0013", "MI:0013", "", "cmpp3", "unreachable"),
    ("failed", "MI:0073", "MI:0073", "", "cmpp2", "empty_number"),
    ("failed", "MI:0061", "MI:0061", "", "cmpp2", "throttled"),
    ("failed", "MN:0001", "MN:0001", "", "cmpp3", "unreachable"),
    ("failed", "MN:0174", "MN:0174", "", "cmpp3", "content_rejected"),
    ("failed", "DB:0141", "DB:0141", "", "cmpp3", "blocked"),
    ("failed", "DB00141", "DB00141", "", "cmpp3", "blocked"),
    ("failed", "DB:0142", "DB:0142", "", "cmpp3", "throttled"),
    ("failed", "DB:0101", "DB:0101", "", "cmpp3", "empty_number"),
    ("failed", "DB:9001", "DB:9001", "", "cmpp3", "unknown"),
    ("failed", "ID:0076", "ID:0076", "", "cmpp3", "content_rejected"),
    ("failed", "ID:0012", "ID:0012", "", "cmpp3", "unknown"),
    ("failed", "IA:0054", "IA:0054", "", "cmpp3", "unknown"),
    ("failed", "IB:0008", "IB:0008", "", "cmpp3", "throttled"),
    ("failed", "CB:0053", "CB:0053", "", "cmpp3", "empty_number"),
    ("failed", "CA:0054", "CA:0054", "", "cmpp3", "unknown"),
    ("failed", "MB:1041", "MB:1041", "", "cmpp3", "blocked"),
    ("failed", "MC:0001", "MC:0001", "", "cmpp3", "unknown"),
    ("failed", "SB:0001", "SB:0001", "", "cmpp3", "unknown"),
    ("failed", "XX:0001", "XX:0001", "", "cmpp3", "unknown"),  # not a CMPP family
    # our own codes
    ("failed", "response_timeout", None, "response_timeout", "smpp", "unknown"),
    ("failed", None, None, None, None, "unknown"),
    ("failed", "", "", "", "", "unknown"),
])
def test_classify(status: str, error_code: str | None, stat: str | None, err: str | None, protocol: str | None,
                  reason: str) -> None:
    found = classify(status, error_code, stat, err, protocol)
    assert found.code == reason
    assert found.text == REASONS[reason]


def test_raw_code_keeps_the_operators_words() -> None:
    assert raw_code("MK:0001", "MK:0001", "") == "MK:0001"
    assert raw_code("UNDELIV", "UNDELIV", "004") == "UNDELIV err:004"
    assert raw_code("DELIVRD", "DELIVRD", "000") == "DELIVRD"
    assert raw_code("0x0000000B", None, "0x0000000B") == "0x0000000B"
    assert raw_code(None, None, "12") == "err:12"
    assert raw_code(None) == "-"


_text = st.one_of(st.none(), st.text(max_size=24),
                  st.from_regex(r"[A-Za-z]{2}:?[0-9]{1,6}", fullmatch=True),
                  st.from_regex(r"0[xX][0-9A-Fa-f]{0,12}", fullmatch=True))


@given(status=st.one_of(st.sampled_from(["accepted", "submitted", "delivered", "failed", "expired", "rejected"]),
                        st.text(max_size=10)),
       error_code=_text, stat=_text, err=_text,
       protocol=st.one_of(st.none(), st.sampled_from(["smpp", "cmpp2", "cmpp3", "smgp"]), st.text(max_size=6)))
def test_classify_never_raises(status: str, error_code: str | None, stat: str | None, err: str | None,
                               protocol: str | None) -> None:
    found = classify(status, error_code, stat, err, protocol)
    assert found.code in REASONS and found.text == REASONS[found.code]
    assert raw_code(error_code, stat, err)
