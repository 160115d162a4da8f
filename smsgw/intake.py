"""Accepting messages: validate, route, count segments, store durably, wake the feeder.

A message is answered 202 only after the transaction holding its rows has committed
(``Store.execute`` returns at the durability point). Ids are taken right before the
write is queued, with no await in between, so commit order is id order — the feeders
rely on that to page the queue by id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio
from sqlalchemy import Connection, select

from protocols.text import TextEncodingError

from . import queries as q
from .content import ContentRules
from .dispatch import Dispatcher
from .http.errors import HTTPError, Refused
from .keys import ApiKey
from .limits import Limits
from .numbers import InvalidNumber, Router, normalise
from .store.errors import UniqueViolation, WriteFailed
from .store.schema import messages

MAX_TEXT = 2000
MAX_CLIENT_REF = 128


@dataclass(slots=True)
class Draft:
    """A validated message before it has an id. ``text`` is what goes to the SMSC (signature placed)."""

    to: str
    text: str
    channel: str
    segments: int
    client_ref: str | None
    callback_url: str | None
    signature: str | None
    template_id: str | None = None
    kind: str | None = None  # the template kind; decides the frequency limits

    def to_number(self, to: str) -> Draft:
        """This draft for another (normalised, routed to the same channel) number."""
        return Draft(to, self.text, self.channel, self.segments, self.client_ref, self.callback_url, self.signature,
                     self.template_id, self.kind)


@dataclass(slots=True)
class _Storing:
    """A request with a client_ref being stored; ``answer`` once it was (or was found stored)."""

    done: trio.Event = field(default_factory=trio.Event)
    answer: dict[str, Any] | None = None


class Intake:
    """Validation (``draft``), the number rules (``admit``) and the durable write (``accept``).

    The content rules (signatures, templates: ``smsgw.content``) turn a request's content fields
    into the text to send; the number rules (black/white lists, frequency limits, key quotas:
    ``smsgw.limits``) decide whether it may go to that number now, and count it when it does.
    """

    def __init__(self, dispatcher: Dispatcher, *, wall_clock: Any = time.time) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store
        self.ids = dispatcher.ids
        self.wall_clock = wall_clock
        config = dispatcher.config
        self.validity = config.gateway.validity
        self.router = Router({c.name: c.prefixes for c in config.channels})
        self.content = ContentRules(config, self.store)
        self.limits = Limits(config, self.store)
        self.open = True
        self._storing: dict[tuple[str, str], _Storing] = {}  # (key id, client_ref) of requests being stored

    async def load(self) -> None:
        """Read the rules' state (approved content, lists, recent sends) before serving."""
        await self.content.load()
        await self.limits.load()

    # ---------------------------------------------------------------- validation
    def draft(self, body: Mapping[str, Any], key: ApiKey, *, text_field: str = "text") -> Draft:
        """Validate one message request; ``Refused`` names the field at fault."""
        to = self.number(body.get("to"))
        return self.draft_to(to, self.route(to, body.get("channel")), body, key, text_field=text_field)

    def number(self, raw: object) -> str:
        """The normalised ``"to"`` of a request, or ``Refused``."""
        if not isinstance(raw, str):
            raise Refused(400, "invalid_number", "\"to\" must be a phone number string", "to")
        try:
            return normalise(raw)
        except InvalidNumber as exc:
            raise Refused(400, "invalid_number", str(exc), "to") from None

    def draft_to(self, to: str, channel: str, body: Mapping[str, Any], key: ApiKey, *,
                 text_field: str = "text") -> Draft:
        """``draft`` past the number and the route: every other check depends only on ``channel``,
        the rest of ``body``, the key and the content rules, so a batch reuses it (``Draft.to_number``)."""
        content = self.content.resolve(key, body, self.dispatcher.channels[channel].config,
                                      text_field=text_field)
        if len(content.text) > MAX_TEXT:
            raise Refused(400, "text_too_long", f"the text has {len(content.text)} characters; at most {MAX_TEXT}",
                          text_field)
        try:
            segments = self.dispatcher.links[channel].segment_count(content.text)
        except TextEncodingError as exc:
            raise Refused(400, "text_too_long", f"the text cannot be sent: {exc}", text_field) from None
        client_ref = body.get("client_ref")
        if client_ref is not None and (not isinstance(client_ref, str) or not 0 < len(client_ref) <= MAX_CLIENT_REF):
            raise Refused(400, "invalid_client_ref",
                          f"\"client_ref\" must be a string of 1 to {MAX_CLIENT_REF} characters", "client_ref")
        callback = body.get("callback_url")
        if callback is not None and (not isinstance(callback, str)
                                     or not callback.startswith(("http://", "https://"))):
            raise Refused(400, "invalid_callback_url", "\"callback_url\" must be an http:// or https:// URL",
                          "callback_url")
        return Draft(to, content.text, channel, segments, client_ref, callback, content.signature,
                     content.template_id, content.kind)

    def admit(self, key: ApiKey, draft: Draft, now: float, *, quota: bool = True) -> None:
        """Apply the number rules and count the send; ``release`` undoes the count if the write fails.
        ``quota=False`` for batch rows: the key's TPS quota applies to single submits."""
        self.limits.check(key, draft, now, quota=quota)

    def release(self, key: ApiKey, drafts: list[Draft], *, quota: bool = True) -> None:
        self.limits.release(key, drafts, quota=quota)

    def route(self, to: str, requested: object, chosen: dict[tuple[str, ...], str] | None = None) -> str:
        """The channel for ``to``: ``requested`` if given, else the first of its route with a bound
        session. ``chosen``: the choices made since the caller last awaited, reused (no session
        can have bound or dropped meanwhile; counting the bound ones was ~0.3 µs a batch row)."""
        channels = self.dispatcher.channels
        if requested is not None:
            if not isinstance(requested, str) or requested not in channels:
                raise Refused(400, "unknown_channel",
                              f"channel {requested!r} is not configured; known: {', '.join(channels)}", "channel")
            return requested
        candidates = self.router.candidates(to)
        if not candidates:
            raise Refused(400, "no_route", f"no channel serves numbers like {to}", "to")
        if chosen is not None and (name := chosen.get(candidates)) is not None:
            return name
        name = next((name for name in candidates if channels[name].bound_sessions), candidates[0])  # failover
        if chosen is not None:
            chosen[candidates] = name
        return name

    # ------------------------------------------------------------------- storing
    def ops(self, key_id: str, draft: Draft, message_id: int, now: float, batch_id: int | None = None) -> list[Any]:
        return [self.message_op(key_id, draft, message_id, now, batch_id), *self.segment_ops(draft, message_id)]

    def message_op(self, key_id: str, draft: Draft, message_id: int, now: float, batch_id: int | None = None,
                   status: str = "accepted") -> tuple[Any, dict[str, Any]]:
        return (q.INSERT_MESSAGE, {
            "id": message_id, "key_id": key_id, "client_ref": draft.client_ref, "batch_id": batch_id,
            "to_number": draft.to, "text": draft.text, "encoding": "auto", "channel": draft.channel,
            "status": status, "segments": draft.segments, "error_code": None, "error_message": None,
            "callback_url": draft.callback_url, "template_id": draft.template_id, "signature": draft.signature,
            "created_at": now, "submitted_at": None, "done_at": None, "expires_at": now + self.validity,
        })

    @staticmethod
    def segment_ops(draft: Draft, message_id: int) -> list[tuple[Any, dict[str, Any]]]:
        channel = draft.channel
        return [(q.INSERT_SEGMENT, {"message_id": message_id, "idx": idx, "channel": channel, "status": "accepted",
                                    "smsc_id": None, "smsc_key": None, "stat": None, "err": None, "attempts": 0,
                                    "submitted_at": None, "done_at": None})
                for idx in range(1, draft.segments + 1)]

    async def accept(self, key: ApiKey, draft: Draft) -> dict[str, Any]:
        """Store one message durably; a repeated client_ref returns the first message.

        A client retrying a request whose 202 it lost gets its message back, not a refusal of the
        number rules (the first send counts against the frequency limit): the client_ref is looked
        up when a rule refuses, so the common path costs no read. A repeat that comes while the
        first is still being stored waits for it and gets its answer: checked against the rules
        itself it would count the send twice, and get a 429 at the limit (nothing to look up yet).
        """
        self._check_open()
        if draft.client_ref is None:
            return await self._accept(key, draft)
        ref = (key.id, draft.client_ref)
        while (first := self._storing.get(ref)) is not None:
            await first.done.wait()
            if first.answer is not None:
                return first.answer
            # the first was refused or not stored: this one is judged on its own
        storing = self._storing[ref] = _Storing()
        try:
            storing.answer = await self._accept(key, draft)
            return storing.answer
        finally:
            del self._storing[ref]
            storing.done.set()

    async def _accept(self, key: ApiKey, draft: Draft) -> dict[str, Any]:
        now = self.wall_clock()
        try:
            self.admit(key, draft, now)
        except Refused:
            if (existing := await self.sent_before(key, draft.client_ref)) is not None:
                return existing
            raise
        message_id = self.ids.next()
        try:
            with self.dispatcher.handing_over((draft.channel,)) as handoff:
                ops = self.ops(key.id, draft, message_id, now)
                await self.store.execute(ops)
                handoff.committed(ops)
        except UniqueViolation as exc:
            self.release(key, [draft])
            if draft.client_ref is None or "client_ref" not in (exc.constraint or ""):
                raise
            existing = await self.sent_before(key, draft.client_ref)
            if existing is None:
                raise
            return existing
        except WriteFailed:
            self.release(key, [draft])
            raise
        return {"id": str(message_id), "status": "accepted", "segments": draft.segments}

    async def sent_before(self, key: ApiKey, client_ref: object) -> dict[str, Any] | None:
        """The message this key already stored under ``client_ref``, if any (a retried request)."""
        if not isinstance(client_ref, str) or not client_ref:
            return None
        return await self.store.read(_by_client_ref, key.id, client_ref)

    def _check_open(self) -> None:
        if not self.open:
            raise HTTPError(503, "shutting_down", "the gateway is stopping and accepts no new messages")


def _by_client_ref(conn: Connection, key_id: str, client_ref: str) -> dict[str, Any] | None:
    m = messages.c
    row = conn.execute(
        select(m.id, m.status, m.segments).where(m.key_id == key_id, m.client_ref == client_ref)
    ).first()
    return {"id": str(row.id), "status": row.status, "segments": row.segments} if row else None
