"""Accepting messages: validate, route, count segments, store durably, wake the feeder.

A message is answered 202 only after the transaction holding its rows has committed
(``Store.execute`` returns at the durability point). Ids are taken right before the
write is queued, with no await in between, so commit order is id order — the feeders
rely on that to page the queue by id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from protocols.text import TextEncodingError

from . import queries as q
from .dispatch import Dispatcher
from .http.errors import HTTPError
from .numbers import InvalidNumber, Router, normalise
from .store.errors import UniqueViolation
from .store.schema import messages

MAX_TEXT = 2000
MAX_CLIENT_REF = 128


@dataclass(slots=True)
class Draft:
    """A validated message before it has an id."""

    to: str
    text: str
    channel: str
    segments: int
    client_ref: str | None
    callback_url: str | None
    signature: str | None


class Refused(HTTPError):
    """A 4xx refusal of one message (or one batch row), with its code and field."""


class Intake:
    def __init__(self, dispatcher: Dispatcher, *, wall_clock: Any = time.time) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store
        self.ids = dispatcher.ids
        self.wall_clock = wall_clock
        config = dispatcher.config
        self.validity = config.gateway.validity
        self.router = Router({c.name: c.prefixes for c in config.channels})
        self.open = True

    # ---------------------------------------------------------------- validation
    def draft(self, body: Mapping[str, Any], *, text_field: str = "text") -> Draft:
        """Validate one message request; ``Refused`` names the field at fault."""
        to_raw = body.get("to")
        if not isinstance(to_raw, str):
            raise Refused(400, "invalid_number", "\"to\" must be a phone number string", "to")
        try:
            to = normalise(to_raw)
        except InvalidNumber as exc:
            raise Refused(400, "invalid_number", str(exc), "to") from None
        if body.get("template_id") is not None:
            raise Refused(400, "templates_unavailable",
                          "sending by template_id is not available yet; send \"text\"", "template_id")
        text = body.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise Refused(400, "missing_text", "\"text\" must be a non-empty string", text_field)
        if len(text) > MAX_TEXT:
            raise Refused(400, "text_too_long", f"\"text\" has {len(text)} characters; at most {MAX_TEXT}",
                          text_field)
        channel = self._channel(to, body.get("channel"))
        try:
            segments = self.dispatcher.links[channel].segment_count(text)
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
        signature = body.get("signature")
        if signature is not None and not isinstance(signature, str):
            raise Refused(400, "invalid_signature", "\"signature\" must be a string", "signature")
        return Draft(to, text, channel, segments, client_ref, callback, signature)

    def _channel(self, to: str, requested: object) -> str:
        channels = self.dispatcher.channels
        if requested is not None:
            if not isinstance(requested, str) or requested not in channels:
                raise Refused(400, "unknown_channel",
                              f"channel {requested!r} is not configured; known: {', '.join(channels)}", "channel")
            return requested
        candidates = self.router.candidates(to)
        if not candidates:
            raise Refused(400, "no_route", f"no channel serves numbers like {to}", "to")
        for name in candidates:  # failover: the first of the route with a bound session
            if channels[name].bound_sessions:
                return name
        return candidates[0]

    # ------------------------------------------------------------------- storing
    def ops(self, key_id: str, draft: Draft, message_id: int, now: float, batch_id: int | None = None) -> list[Any]:
        ops: list[Any] = [(q.INSERT_MESSAGE, {
            "id": message_id, "key_id": key_id, "client_ref": draft.client_ref, "batch_id": batch_id,
            "to_number": draft.to, "text": draft.text, "encoding": "auto", "channel": draft.channel,
            "status": "accepted", "segments": draft.segments, "error_code": None, "error_message": None,
            "callback_url": draft.callback_url, "template_id": None, "signature": draft.signature,
            "created_at": now, "submitted_at": None, "done_at": None, "expires_at": now + self.validity,
        })]
        ops.extend(
            (q.INSERT_SEGMENT, {"message_id": message_id, "idx": idx, "channel": draft.channel, "status": "accepted",
                                "smsc_id": None, "smsc_key": None, "stat": None, "err": None, "attempts": 0,
                                "submitted_at": None, "done_at": None})
            for idx in range(1, draft.segments + 1)
        )
        return ops

    async def accept(self, key_id: str, draft: Draft) -> dict[str, Any]:
        """Store one message durably; a repeated client_ref returns the first message."""
        self._check_open()
        message_id = self.ids.next()
        try:
            await self.store.execute(self.ops(key_id, draft, message_id, self.wall_clock()))
        except UniqueViolation as exc:
            if draft.client_ref is None or "client_ref" not in (exc.constraint or ""):
                raise
            existing = await self.store.read(_by_client_ref, key_id, draft.client_ref)
            if existing is None:
                raise
            return existing
        self.dispatcher.accepted(draft.channel)
        return {"id": str(message_id), "status": "accepted", "segments": draft.segments}

    def _check_open(self) -> None:
        if not self.open:
            raise HTTPError(503, "shutting_down", "the gateway is stopping and accepts no new messages")


def _by_client_ref(conn: Connection, key_id: str, client_ref: str) -> dict[str, Any] | None:
    m = messages.c
    row = conn.execute(
        select(m.id, m.status, m.segments).where(m.key_id == key_id, m.client_ref == client_ref)
    ).first()
    return {"id": str(row.id), "status": row.status, "segments": row.segments} if row else None
