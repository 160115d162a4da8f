"""Failure taxonomy: operator codes mapped to a few reasons a person understands.

Operators report failures in their own vocabularies — SMPP command_status and receipt
stat/err, CMPP Stat values such as ``MK:0001`` or ``DB:0141``, SMGP status and stat/err —
and the raw code is what support staff quote to the operator, so it is always kept beside
the reason (``raw_code``). ``classify`` never fails: anything not in the tables is
``unknown``. The tables, their sources and their doubts are in docs/failure-reasons.md;
keep the two in step.

Where the codes come from (smsgw/dispatch.py): a submit refused by the operator stores the
protocol's response code as ``error_code`` (SMPP ``0x0000000B``, CMPP Result ``13``, SMGP
Status ``47`` — the bare numbers need ``protocol`` to be told apart); a failing receipt stores
its stat as ``error_code`` and stat/err on the segment; our own codes (``validity_expired``,
``no_receipt``, ``response_timeout``) are words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # one of REASONS
    text: str  # a sentence for people


REASONS = {
    "delivered": "delivered to the handset",
    "empty_number": "the number does not exist or is not in service",
    "unreachable": "the handset is powered off, out of coverage or cannot take messages",
    "blocked": "the carrier or the subscriber blocks messages to this number",
    "content_rejected": "the carrier rejected the content (signature, template or keywords)",
    "throttled": "the carrier refused for flow control and retries ran out",
    "expired": "not delivered within the validity period",
    "rejected": "refused by the gateway before sending (see the error code)",
    "unknown": "the carrier gave a reason this gateway does not know; quote the raw code to the carrier",
}

#: receipt stat words (SMPP 3.4 Appendix B, CMPP 3.0 §8.4.5.1, SMGP 3.0.3 §6.2.63) and the
#: words Chinese aggregators put in the same field
_STAT_WORDS = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "unreachable",
    "REJECTD": "blocked",
    "DELETED": "unknown",
    "UNKNOWN": "unknown",
    "BLACK": "blocked",
    "MBBLACK": "blocked",
    "DBBLACK": "blocked",
    "TDBLACK": "blocked",
    "TSBLACK": "blocked",
    "BLACKLIST": "blocked",
    "KEYWORD": "content_rejected",
    "KEYWORDS": "content_rejected",
    "LIMIT": "throttled",
    "MILIMIT": "throttled",
    "CTLIMIT": "throttled",
    "BEYONDN": "throttled",
}

#: codes this gateway writes itself
_OUR_CODES = {
    "validity_expired": "expired",
    "no_receipt": "expired",
    "response_timeout": "unknown",
}

#: CMPP gateway-generated Stat values: two letters naming the element that failed, then a
#: number (CMPP 3.0 §8.4.5.1 names the families; the numbers are operator-defined). Per family:
#: the numbers documented with a clear meaning, then the family default for the rest.
_FAMILY_DEFAULT = {
    # SMSC side: what the SMSC reported about the handset (mostly number/handset problems)
    "MK": "unreachable", "MI": "unreachable", "MN": "unreachable",
    # ISMG-SMSC link (MA), SMSC error response (MB), no report from the SMSC (MC)
    "MA": "unknown", "MB": "unknown", "MC": "unknown",
    # SCP (prepaid charging), DSMP (subscription management), SP, next ISMG
    "CA": "unknown", "CB": "unknown", "DA": "unknown", "DB": "unknown", "SA": "unknown", "SB": "unknown",
    "IA": "unknown", "IB": "unknown", "IC": "unknown", "ID": "unknown",
}


def _numbers(**by_reason: str) -> dict[int, str]:
    """``reason="1 5 9-12"`` -> {1: reason, 5: reason, 9: reason, ...}."""
    table: dict[int, str] = {}
    for reason, spec in by_reason.items():
        for item in spec.split():
            first, _, last = item.partition("-")
            for number in range(int(first), int(last or first) + 1):
                table[number] = reason
    return table


_FAMILY_NUMBERS: dict[str, dict[int, str]] = {
    "MK": _numbers(
        empty_number="0 1 3 5 12 13",
        unknown="6 14 18 20-23 25 30-38 40 41 45 46 51-58 61-63 65 66 68 69 77 78 84 88 99 130 195 196 208 1002 1007",
        blocked="1010",
        throttled="1041",
        content_rejected="93 118 1004",
    ),
    "MI": _numbers(
        empty_number="73 210",
        unknown="18 21 23 30-38 40 41 43-46 48-50 53 56-58 63-69 75 77 78 80 81 83 84 87-89 98 128-176 192-195 255 999",
        blocked="52 94 196",
        throttled="61 62 79",
    ),
    "MN": _numbers(
        empty_number="51",
        unknown="9 19-21 29 45 52 53 55 75 98",
        blocked="17",
        content_rejected="0 99 174 999",
    ),
    "MB": _numbers(blocked="1013 1041"),
    "CA": _numbers(blocked="8008 8027 9005 9023"),
    "CB": _numbers(empty_number="1 47 53", unreachable="13 15", throttled="10"),
    "DB": _numbers(
        empty_number="101 102 111 115-119 127 128 130-135 138 147 182 318",
        unreachable="100 103",
        blocked="104 139-141 144-146 164 9006",
        throttled="142 143 9007",
        content_rejected="309",
    ),
    "IB": _numbers(throttled="8"),
    "ID": _numbers(unreachable="73", content_rejected="76"),
}
_FAMILY = re.compile(r"([A-Z]{2}):?(\d{1,5})")

#: SMPP command_status of a refused submit_sm (SMPP 3.4 §5.1.3, 5.0 additions)
_SMPP_STATUS = {
    0x0B: "empty_number",  # ESME_RINVDSTADR
    0x14: "throttled",  # ESME_RMSGQFUL
    0x58: "throttled",  # ESME_RTHROTTLED
    0xFE: "unreachable",  # ESME_RDELIVERYFAILURE
    0x100: "blocked",  # ESME_RSERTYPUNAUTH
    0x101: "blocked",  # ESME_RPROHIBITED
    0x103: "blocked",  # ESME_RSERTYPDENIED
}
#: CMPP_SUBMIT_RESP Result (CMPP 3.0 §8.4.3.2)
_CMPP_RESULT = {8: "throttled", 13: "empty_number"}
#: SMGP Submit_Resp Status (SMGP 3.0.3 §6.2.6)
_SMGP_STATUS = {1: "throttled", 37: "expired", 47: "empty_number", 74: "blocked", 75: "throttled", 76: "blocked"}
#: SMGP receipt err (SMGP 3.0.3 §6.2.63.2)
_SMGP_ERR = {
    1: "unreachable", 2: "unreachable", 3: "unreachable", 7: "unreachable", 8: "unreachable",
    4: "empty_number", 5: "blocked",
}


def classify(status: str, error_code: str | None, stat: str | None = None, err: str | None = None,
             protocol: str | None = None) -> Reason:
    """The reason for a message's final state from the codes stored with it.

    ``status`` decides for delivered, expired and rejected messages; for a failed one the
    most specific code that the tables know wins: SMGP's err, then the receipt stat, then the
    stored error code. Any strings are accepted; nothing raises."""
    if status == "delivered":
        return _reason("delivered")
    if status == "expired":
        return _reason("expired")
    if status == "rejected":
        return _reason("rejected")
    proto = (protocol or "").lower()
    if proto == "smgp" and err:
        found = _number_lookup(err, _SMGP_ERR)
        if found not in (None, "unknown"):
            return _reason(found)
    for code in (stat, error_code):
        if code:
            found = _code(code.strip(), proto)
            if found is not None:
                return _reason(found)
    return _reason("unknown")


def raw_code(error_code: str | None, stat: str | None = None, err: str | None = None) -> str:
    """The operator's own code as support staff quote it, e.g. ``MK:0001``, ``0x0000000B`` or
    ``UNDELIV err:004``; ``-`` when there is none."""
    raw = error_code or stat or ""
    if err and err not in ("000", "0") and err not in raw:
        raw = f"{raw} err:{err}" if raw else f"err:{err}"
    return raw or "-"


def _code(code: str, proto: str) -> str | None:
    """The reason for one stored code, or None when the tables do not know it."""
    if code in _OUR_CODES:
        return _OUR_CODES[code]
    upper = code.upper()
    if upper in _STAT_WORDS:
        return _STAT_WORDS[upper]
    family = _FAMILY.fullmatch(upper)
    if family is not None and family.group(1) in _FAMILY_DEFAULT:
        name, number = family.group(1), int(family.group(2))
        return _FAMILY_NUMBERS.get(name, {}).get(number, _FAMILY_DEFAULT[name])
    if upper.startswith("0X"):
        return _number_lookup(upper[2:], _SMPP_STATUS, base=16) or "unknown"
    if code.isdigit() and code.isascii():
        if proto in ("cmpp2", "cmpp3", "cmpp"):
            return _number_lookup(code, _CMPP_RESULT) or "unknown"
        if proto == "smgp":
            return _number_lookup(code, _SMGP_STATUS) or "unknown"
    return None


def _number_lookup(text: str, table: dict[int, str], *, base: int = 10) -> str | None:
    text = text.strip()
    if not text or len(text) > 10 or not text.isascii() or not text.isalnum():
        return None
    try:
        return table.get(int(text, base))
    except ValueError:
        return None


def _reason(code: str) -> Reason:
    return Reason(code, REASONS[code])
