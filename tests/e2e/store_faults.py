"""A store fault for the API tests: the next write commits, but its caller is told the commit's
outcome is unknown (``CommitOutcomeUnknown``: the connection dropped during COMMIT)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from smsgw.store.errors import CommitOutcomeUnknown
from smsgw.store.store import Store
from smsgw.store.writer import Op


@contextmanager
def next_commit_unanswered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = Store.execute
    armed = [True]

    async def execute(self: Store, ops: Sequence[Op]) -> None:
        await real(self, ops)
        if armed[0]:
            armed[0] = False
            raise CommitOutcomeUnknown("COMMIT failed: connection lost (test)")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "execute", execute)
        yield
    assert not armed[0], "no write happened"
