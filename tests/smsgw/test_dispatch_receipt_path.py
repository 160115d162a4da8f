"""The receipt path's short cuts in the dispatcher against the general code."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smsgw import dispatch
from smsgw.dispatch import _storable_receipt, storable
from smsgw.link import Receipt

_near_width = st.integers(0, 3).flatmap(lambda extra: st.text(st.sampled_from("1aé\0 "), min_size=0,
                                                               max_size=dispatch._ID_WIDTH + extra))


@given(smsc_id=_near_width, stat=st.text(st.sampled_from("DELIVRD\0x"), max_size=dispatch._STAT_WIDTH + 2),
       err=st.text(st.sampled_from("0\0é"), max_size=dispatch._STAT_WIDTH + 2))
def test_storable_receipt_as_storable(smsc_id: str, stat: str, err: str) -> None:
    receipt = Receipt(smsc_id, stat, err, False, True)
    expected = Receipt(storable(smsc_id, dispatch._ID_WIDTH), storable(stat, dispatch._STAT_WIDTH),
                       storable(err, dispatch._STAT_WIDTH), False, True)
    result = _storable_receipt(receipt)
    assert result == expected
    assert (result is receipt) == (expected == receipt)  # unchanged: the same object


_STATUSES = ["submitted", "delivered", "expired", "failed", "pending"]


@given(st.lists(st.sampled_from(_STATUSES), max_size=6))
def test_all_done_count_as_all(statuses: list[str]) -> None:
    """``_apply_receipt`` counts instead of two all(generator)s; the same decision."""
    delivered = statuses.count("delivered")
    done = delivered + statuses.count("expired") == len(statuses)
    assert done == all(s in ("delivered", "expired") for s in statuses)
    if done:
        assert (delivered == len(statuses)) == all(s == "delivered" for s in statuses)
