"""``normalise_message_id``'s fast path for plain digits against the general path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocols.msgid import _clean, normalise_message_id


def general_auto(raw: str | bytes) -> str:
    """The "auto" reading without the fast path: strip, then digits as decimal (as before)."""
    text = _clean(raw)
    if text.isascii() and text.isdigit():
        return str(int(text))
    return normalise_message_id(f" {text} ", "auto")  # padding skips the fast path, _clean removes it


def _outcome(fn: object, raw: str | bytes) -> str:
    try:
        return "ok " + fn(raw)  # type: ignore[operator]
    except ValueError as exc:
        return f"error {exc}"


@given(st.text(st.sampled_from("0123456789abcdefXYZ \t\0٣²"), max_size=30) | st.binary(max_size=12)
       | st.integers(0, 10**30).map(str))
def test_auto_as_the_general_path(raw: str | bytes) -> None:
    assert _outcome(normalise_message_id, raw) == _outcome(general_auto, raw)
