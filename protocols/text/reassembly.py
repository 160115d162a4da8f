"""Reassembly of concatenated MO messages (PROTOCOLS.md B.1: a receiver keys parts by
originator, reference and total).

Parts arrive in any order, possibly repeated (an SMSC resends a deliver whose response it
missed — often the last part, after the message is already complete). A group is complete
when every index 1..total is present; a group that waits longer than ``max_parts_age`` is
dropped by ``expire`` and handed back so the caller can deliver the partial text or log
it. A completed group is remembered for ``max_parts_age`` too, so that a late repeat of
one of its parts (same index, same payload) is ignored instead of opening a phantom group
that would later expire as a "partial message"; a part with the same index but another
payload is a new message reusing the reference and starts a new group. There is no clock:
``now`` is passed in, in whatever monotonic unit the caller uses for ``max_parts_age``.

A caller that acknowledges a part only once it is stored changes this state only then too:
it adds the parts to a ``fork``, stores what ``add`` returned and ``merge``s the fork after the
commit; it stores what ``stale`` returns before ``expire`` drops it. Otherwise a message taken
as complete before its write failed would have its resent parts ignored as repeats.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace


@dataclass(slots=True)
class PartialMessage:
    """The parts received so far for one (key, reference, total) group."""

    key: Hashable
    reference: int
    total: int
    first_seen: float
    parts: dict[int, bytes] = field(default_factory=dict)  # index -> payload

    @property
    def missing(self) -> list[int]:
        return [i for i in range(1, self.total + 1) if i not in self.parts]

    def joined(self) -> bytes:
        """The payloads received, in index order (gaps simply skipped)."""
        return b"".join(self.parts[i] for i in sorted(self.parts))


class Reassembler:
    """Collects concatenated parts; ``key`` is typically the originator and recipient addresses
    (plus the channel), so equal references from different senders, or from one sender to
    different recipients, never mix."""

    def __init__(self, max_parts_age: float):
        self.max_parts_age = max_parts_age
        self._groups: dict[tuple[Hashable, int, int], PartialMessage] = {}
        self._completed: dict[tuple[Hashable, int, int], tuple[float, dict[int, bytes]]] = {}
        self._scope: frozenset[tuple[Hashable, int, int]] = frozenset()  # a fork's groups

    def __len__(self) -> int:
        """Groups waiting for parts."""
        return len(self._groups)

    def add(
        self, key: Hashable, reference: int, total: int, index: int, payload: bytes, now: float
    ) -> bytes | None:
        """Store one part; return the whole message (payloads by index) when this part
        completes it, else None. A repeated index keeps the first payload; a repeat of a
        part of a message completed within ``max_parts_age`` is ignored. An index outside
        1..total raises ValueError (parse_udh never yields one)."""
        if not 1 <= index <= total:
            raise ValueError(f"part {index} of {total} is not within 1..total")
        if total == 1:
            return payload
        group_key = (key, reference, total)
        completed = self._completed.get(group_key)
        if completed is not None:
            if completed[1].get(index) == payload:
                return None
            del self._completed[group_key]
        group = self._groups.get(group_key)
        if group is None:
            group = self._groups[group_key] = PartialMessage(key, reference, total, now)
        group.parts.setdefault(index, payload)
        if len(group.parts) < total:
            return None
        del self._groups[group_key]
        self._completed[group_key] = (now, group.parts)
        return group.joined()

    def completed_repeat(self, key: Hashable, reference: int, total: int, index: int, payload: bytes) -> bool:
        """Whether this part repeats one of a message completed within ``max_parts_age`` (an
        operator resending a deliver whose response it missed): the caller acknowledges it and
        keeps nothing, since ``add`` would ignore it too."""
        completed = self._completed.get((key, reference, total))
        return completed is not None and completed[1].get(index) == payload

    def stale(self, now: float) -> list[PartialMessage]:
        """The groups whose first part arrived more than ``max_parts_age`` before ``now``,
        oldest first, left in place (``expire`` drops them)."""
        limit = now - self.max_parts_age
        return sorted((g for g in self._groups.values() if g.first_seen < limit), key=lambda g: g.first_seen)

    def expire(self, now: float) -> list[PartialMessage]:
        """Drop and return the ``stale`` groups; forget the messages completed before
        ``max_parts_age`` ago."""
        limit = now - self.max_parts_age
        for group_key in [k for k, (done, _) in self._completed.items() if done < limit]:
            del self._completed[group_key]
        expired = self.stale(now)
        for group in expired:
            del self._groups[(group.key, group.reference, group.total)]
        return expired

    def fork(self, groups: Iterable[tuple[Hashable, int, int]]) -> Reassembler:
        """A copy of the state of ``groups`` ((key, reference, total) each); parts added to
        it, which must belong to those groups, change nothing here until ``merge``."""
        fork = Reassembler(self.max_parts_age)
        fork._scope = frozenset(groups)
        for group_key in fork._scope:
            group = self._groups.get(group_key)
            if group is not None:
                fork._groups[group_key] = replace(group, parts=dict(group.parts))
            completed = self._completed.get(group_key)
            if completed is not None:
                fork._completed[group_key] = completed  # never changed, only replaced
        return fork

    def merge(self, fork: Reassembler) -> None:
        """Take the state of the groups ``fork`` was made for from it."""
        for group_key in fork._scope:
            group, completed = fork._groups.get(group_key), fork._completed.get(group_key)
            if group is None:
                self._groups.pop(group_key, None)
            else:
                self._groups[group_key] = group
            if completed is None:
                self._completed.pop(group_key, None)
            else:
                self._completed[group_key] = completed
