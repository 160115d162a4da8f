"""Failure taxonomy: operator codes mapped to a few reasons a person understands.

Operators report failures in their own vocabularies — SMPP command_status and receipt
stat/err, CMPP Stat values such as ``MK:0001`` or ``DB:0141``, SMGP status and stat — and
the raw code is what support staff quote to the operator, so it is always kept beside the
reason. ``classify`` never fails: anything not in the tables is ``unknown``.

This is the first table (receipt stat words and our own codes); the per-operator prefixes
are refined with docs/failure-reasons.md.
"""

from __future__ import annotations

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

_STAT_WORDS = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "unreachable",
    "REJECTD": "blocked",
    "DELETED": "unknown",
    "UNKNOWN": "unknown",
}

_OUR_CODES = {
    "validity_expired": "expired",
    "no_receipt": "expired",
}


def classify(status: str, error_code: str | None, stat: str | None = None, err: str | None = None,
             protocol: str | None = None) -> Reason:
    """The reason for a message's final state from the codes stored with it."""
    if status == "delivered":
        return _reason("delivered")
    if status == "expired":
        return _reason("expired")
    if status == "rejected":
        return _reason("rejected")
    for code in (stat, error_code):
        if code is None:
            continue
        word = _STAT_WORDS.get(code.upper()) or _OUR_CODES.get(code)
        if word is not None:
            return _reason(word)
    return _reason("unknown")


def _reason(code: str) -> Reason:
    return Reason(code, REASONS[code])
