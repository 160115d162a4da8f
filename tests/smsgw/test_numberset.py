from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smsgw.numberset import NumberSet

numbers = st.one_of(st.integers(min_value=13000000000, max_value=19999999999).map(str),
                    st.integers(min_value=1000000, max_value=999999999999999).map(lambda n: f"+{n}"))


@given(st.lists(numbers, max_size=3000))
def test_behaves_like_a_set(items: list[str]) -> None:
    for compact in (NumberSet(), NumberSet(small=100)):  # the table past 100 numbers
        plain: set[str] = set()
        for number in items:
            assert compact.add(number) == (number not in plain)
            plain.add(number)
            assert len(compact) == len(plain)
        assert all(number in compact for number in plain)
        assert ("13000000000" in compact) == ("13000000000" in plain)


def test_national_and_e164_forms_differ() -> None:
    s = NumberSet()
    assert s.add("13800138000") and s.add("+13800138000")
    assert "+8613800138000" not in s
