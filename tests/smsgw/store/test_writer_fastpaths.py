"""The writer thread's fast paths against their general forms: ``_batch_ops`` with the
per-statement NEW_ROWS flags (``_NEW_ROWS_OF``) against the flags read from each statement,
and the frames pickled without a memo (``writer_process._dumps``) against plain pickling."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import column, table

from smsgw.store import writer, writer_process
from smsgw.store.writer import NEW_ROWS, _batch_ops, _Request

_T = table("t", column("a"), column("b"))
STATEMENTS = [_T.insert(), _T.insert().execution_options(**{NEW_ROWS: True}),
              _T.insert().execution_options(**{NEW_ROWS: True}), _T.update(),
              _T.update().execution_options(**{NEW_ROWS: False})]


def reference_batch_ops(batch: list[_Request]) -> list[Any]:
    """``_batch_ops`` as it was, each statement's flag read from its execution options."""
    ops: list[Any] = []
    stretch: dict[Any, list[Any]] = {}
    for request in batch:
        if all(statement.get_execution_options().get(NEW_ROWS) for statement, _ in request.ops):
            for op in request.ops:
                stretch.setdefault(op[0], []).append(op)
            continue
        for group in stretch.values():
            ops.extend(group)
        stretch.clear()
        ops.extend(request.ops)
    for group in stretch.values():
        ops.extend(group)
    return ops


requests = st.lists(st.lists(st.tuples(st.sampled_from(STATEMENTS), st.builds(dict, n=st.integers(0, 9))),
                             max_size=4), max_size=8)


@given(requests)
def test_batch_ops_as_with_flags_read_per_op(batch: list[list[Any]]) -> None:
    made = [_Request(tuple(ops), None) for ops in batch]
    assert _batch_ops(made) == reference_batch_ops(made)


def test_new_rows_flags_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = writer._NewRows()
    monkeypatch.setattr(writer, "PLAN_CACHE_LIMIT", 3)
    made = [_T.insert().execution_options(**{NEW_ROWS: i % 2 == 0}) for i in range(7)]
    assert [flags[statement] for statement in made] == [i % 2 == 0 for i in range(7)]
    assert len(flags) <= 3


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4).map(tuple) | st.lists(inner, max_size=4), max_leaves=30)


@given(plain)
def test_dumps_without_memo_loads_as_plain_pickle(value: Any) -> None:
    shared = ("same", value, "same", value)  # shared objects are written twice, read back equal
    assert pickle.loads(writer_process._dumps(shared)) == pickle.loads(pickle.dumps(shared, protocol=5))
    view = memoryview(b"bytes")
    assert pickle.loads(writer_process._dumps((view, value))) == (b"bytes", value)


def test_dumps_refuses_a_cycle() -> None:
    """A cyclic value raises (the transaction then runs in the writer thread), never loops."""
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="cyclic"):
        writer_process._dumps([(1, False, [(cyclic,)])])
