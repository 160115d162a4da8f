"""The writer process's columnar runs (plans.columns, plans.Layout) against the thread's
dict runs (plans.runs, Plan.rows): the same runs, the same driver rows."""

from __future__ import annotations

from typing import Any

import pytest

from smsgw.store import writer_child, writer_process
from smsgw.store.plans import PROCESSORS, Plan, columns, runs

A, B = object(), object()


def plan_of(lookup: tuple[str, ...], fixed: dict[str, Any], names: tuple[str, ...] | None = None,
            processors: tuple[tuple[int, str], ...] = ()) -> Plan:
    return Plan.of("SQL", names, lookup, fixed, tuple((index, PROCESSORS[kind]) for index, kind in processors),
                   tuple(kind for _, kind in processors))


def test_columns_groups_as_runs_does() -> None:
    ops: list[tuple[Any, dict[str, Any]]] = [
        (A, {"x": 1, "y": 2}), (A, {"y": 3, "x": 4}),  # the same keys in another order: one run
        (A, {"x": 5, "z": 6}),  # the same size, another key
        (A, {"x": 7}), (B, {"x": 8}), (B, {}), (B, {}), (A, {"x": 9, "y": 10, "z": 11})]
    expected = [(statement, keys, [tuple(params[key] for key in keys) for params in run])
                for statement, keys, run in runs(ops)]
    assert list(columns(ops)) == expected
    assert [len(run) for _, _, run in expected] == [2, 1, 1, 1, 2, 1]
    assert list(columns([])) == []


@pytest.mark.parametrize(("keys", "found"), [
    (("a", "b"), plan_of(("a", "b"), {})),  # the values as they are
    (("b", "a", "extra"), plan_of(("a", "b"), {})),
    (("a",), plan_of(("a",), {})),
    ((), plan_of((), {})),
    (("b",), plan_of(("a", "b"), {"a": 9.5})),
    (("a", "b"), plan_of(("b", "a", "c"), {"a": "fixed wins", "c": None}, names=("p", "q", "r"))),
    (("b", "a"), plan_of(("a", "b"), {}, processors=((0, "bytes"), (1, "float")))),
], ids=["same", "reordered", "one", "none", "fixed", "fixed-wins-named", "processors"])
def test_a_layout_makes_the_rows_a_plan_makes(keys: tuple[str, ...], found: Plan) -> None:
    run = [{key: value for key, value in zip(keys, (1, memoryview(b"m"), 3), strict=False)},
           {key: value for key, value in zip(keys, (None, bytearray(b"b"), "s"), strict=False)}]
    wire = writer_process._wire(found, keys)
    assert wire is not None
    layout = writer_child._plan(wire)
    assert layout.rows([tuple(params[key] for key in keys) for params in run]) == found.rows(run)


def test_a_name_the_run_lacks_leaves_the_rows_to_the_daemon() -> None:
    """Its Plan.rows raises the KeyError the writer thread's would."""
    assert writer_process._wire(plan_of(("a", "b"), {}), ("a",)) is None
