"""Number rules: blacklist, whitelist, frequency limits per (number, signature), key quotas.

``load`` reads the lists and the last day's sends; ``check`` refuses or counts one send,
synchronously (so two concurrent requests cannot both take the last slot); ``release``
uncounts sends whose write failed. Order of the rules in ``check``:

1. blacklist: 403 ``blacklisted`` (the recipient refuses these messages; retrying cannot help);
2. the key's quota (``policy.key_tps``): 429 ``key_quota_exceeded``;
3. frequency limits of the message's template kind (unreviewed text counts as
   ``notification``), unless the number is whitelisted: 429 ``frequency_limited``.

A 429 carries ``retry_at`` (unix seconds) in the error and a ``Retry-After`` header.

Sends to one (number, signature) pair are counted together whatever their kind; the limits
of the kind being sent decide. The counts hold across a restart: ``load`` replays the
``messages`` rows of the last day (ids are time-sortable, so that is a primary key range).

An MO reply whose whole text is an unsubscribe keyword (full-width letters read as ASCII, any
case) blacklists its sender for the signature of the latest message sent to that number within
the last day, or for all signatures when there is none (or frequency limits are off, so no
sends are tracked). The entry is written in the MO's own transaction (``on_mo`` is a
dispatcher MO observer).
"""

from __future__ import annotations

import functools
import math
import time
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Connection, select

from .config import Config, FrequencyLimit
from .http.errors import Refused
from .keys import ApiKey
from .lists import ALL, NumberLists, blacklist_op
from .numbers import InvalidNumber, normalise
from .store.ids import COUNTER_BITS, EPOCH_MS, NODE_BITS
from .store.schema import blacklist, messages, whitelist
from .windows import DAY, SendWindows, TokenBuckets, largest_limit, spans

if TYPE_CHECKING:
    from .intake import Draft
    from .store.store import Store

log = structlog.get_logger("smsgw.limits")

_PAGE = 20_000  # rows per read while loading


class Limits:
    def __init__(self, config: Config, store: Store, *, wall_clock: Any = time.time) -> None:
        self.config = config
        self.store = store
        self.policy = policy = config.policy
        self.wall_clock = wall_clock
        self.lists = NumberLists()
        self.windows = (SendWindows(largest_limit(policy.limits.values()), wall_clock())
                        if policy.frequency_limits else None)
        self.quota = TokenBuckets(policy.key_tps) if policy.key_tps > 0 else None
        self._spans = {kind: spans(limit) for kind, limit in policy.limits.items()}
        self._default = policy.limits.get("notification", FrequencyLimit())
        self._unsubscribe = frozenset(_keyword(k) for k in policy.unsubscribe_keywords)

    async def load(self) -> None:
        """Read both lists, then replay the last day's sends into the frequency windows."""
        after = 0
        while rows := await self.store.read(_blacklist_rows, after):
            for row in rows:
                self.lists.block(row.number, row.signature)
            after = rows[-1].id
        self.lists.exempt = set(await self.store.read(_whitelist_numbers))
        if self.windows is None:
            return
        since = self.wall_clock() - DAY
        after = max(0, int(since * 1000) - EPOCH_MS) << (NODE_BITS + COUNTER_BITS)
        replayed = 0
        exempt, add = self.lists.exempt, self.windows.add
        while rows := await self.store.read(_recent_sends, after):
            for _, number, signature, created_at in rows:
                if created_at > since and number not in exempt:
                    add(signature, number, created_at)
                    replayed += 1
            after = rows[-1][0]
        log.info("limits loaded", blacklisted=len(self.lists.blocked), whitelisted=len(exempt),
                 replayed_sends=replayed)

    # ------------------------------------------------------------------ check
    def check(self, key: ApiKey, draft: Draft, now: float, *, quota: bool = True) -> None:
        """Refuse (``Refused``) or count one send. ``quota=False``: the key's TPS quota does not
        apply (batch rows, which the channel paces)."""
        to, signature = draft.to, draft.signature
        if self.lists.is_blocked(to, signature):
            scope = "" if signature is None else f" for signature {signature!r}"
            raise Refused(403, "blacklisted", f"{to} is on the blacklist{scope}: nothing was sent", "to")
        took = False
        if quota and self.quota is not None:
            retry_at = self.quota.take(key.id, now)
            if retry_at is not None:
                raise _too_many("key_quota_exceeded",
                                f"this key may send {self.policy.key_tps:g} messages per second", retry_at, now,
                                None)
            took = True
        if self.windows is not None and to not in self.lists.exempt:
            kind = draft.kind or "notification"
            retry_at = self.windows.take(signature, to, self._spans.get(kind) or spans(self._default), now)
            if retry_at is not None:
                limit = self.policy.limits.get(kind, self._default)
                if took:
                    assert self.quota is not None
                    self.quota.give_back(key.id)
                who = to if signature is None else f"{to} from signature {signature!r}"
                raise _too_many("frequency_limited",
                                f"{who} reached the {kind} frequency limit ({limit.per_minute}/minute, "
                                f"{limit.per_hour}/hour, {limit.per_day}/day)", retry_at, now, "to")

    def release(self, key: ApiKey, drafts: list[Draft], *, quota: bool = True) -> None:
        """Uncount sends that ``check`` counted but that were not stored."""
        self.uncount((draft.signature, draft.to) for draft in drafts)
        if quota and self.quota is not None and drafts:
            self.quota.give_back(key.id, len(drafts))

    def uncount(self, sends: Iterable[tuple[str | None, str]]) -> None:
        """Forget one counted send per (signature, number): stored messages that will never go
        (a cancelled batch's unsent rows), or that were not stored after all."""
        if self.windows is None:
            return
        exempt, untake = self.lists.exempt, self.windows.untake
        for signature, number in sends:
            if number not in exempt:
                untake(signature, number)

    # -------------------------------------------------------------------- MO
    def on_mo(self, channel: str, source: str, dest: str, text: str, wall: float, ops: list[Any]) -> None:
        """Dispatcher MO observer: an unsubscribe reply blacklists its sender (see the module doc)."""
        keyword = text.strip()
        if _keyword(keyword) not in self._unsubscribe:
            return
        try:
            number = normalise(source)
        except InvalidNumber:
            log.warning("unsubscribe from an unusable number", channel=channel, source=source)
            return
        scope = ALL
        if self.windows is not None:
            scope = self.windows.last_signature(number)[1] or ALL
        ops.append(blacklist_op(number, scope, f"replied {keyword!r} to {dest} on {channel}", "mo_unsubscribe",
                                wall))
        self.lists.block(number, scope)
        log.info("unsubscribed", number=number, signature=scope or None, channel=channel)


def _keyword(text: str) -> str:
    """How a reply is compared with the unsubscribe keywords: full-width forms as ASCII (ＴＤ is
    TD, as a Chinese input method types it), case-folded, without surrounding space."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _too_many(code: str, why: str, retry_at: float, now: float, field: str | None) -> Refused:
    at = math.ceil(retry_at)
    wait = max(1, at - math.floor(now))
    when = _utc(at)
    return Refused(429, code, f"{why}; the next message is allowed at {when} (in {wait} s)", field,
                   headers=(("retry-after", str(wait)),), details={"retry_at": at})


@functools.lru_cache(maxsize=256)  # a batch's refused rows share a few retry seconds
def _utc(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _blacklist_rows(conn: Connection, after: int) -> list[Any]:
    b = blacklist.c
    return list(conn.execute(select(b.id, b.number, b.signature).where(b.id > after).order_by(b.id)
                             .limit(_PAGE)).all())


def _whitelist_numbers(conn: Connection) -> list[str]:
    return list(conn.execute(select(whitelist.c.number)).scalars())


def _recent_sends(conn: Connection, after: int) -> list[tuple[int, str, str | None, float]]:
    m = messages.c
    # "rejected": a cancelled batch's rows that were never sent (Batches uncounted them then)
    rows = conn.execute(select(m.id, m.to_number, m.signature, m.created_at)
                        .where(m.id > after, m.status != "rejected").order_by(m.id).limit(_PAGE))
    return [tuple(row) for row in rows]  # type: ignore[misc]
