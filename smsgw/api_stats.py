"""GET /v1/stats: delivery statistics per channel, template, batch, key or day (CONTRACT §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http.errors import HTTPError
from .http.types import Request, Response, json_response
from .stats import GROUPS, BadParameter, build_query, stats
from .taxonomy import REASONS

if TYPE_CHECKING:
    from .api import Api

_COUNTS = {name: {"type": "integer"} for name in
           ("total", "submitted", "delivered", "failed", "expired", "rejected", "pending")}
_REASON = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "enum": list(REASONS)}, "text": {"type": "string"}, "count": {"type": "integer"},
        "raw": {"type": "array", "description": "the most frequent operator codes behind this reason",
                "items": {"type": "object", "properties": {"code": {"type": "string"}, "count": {"type": "integer"}}}},
    },
}
_STATS_ITEM = {
    "type": "object",
    "properties": {
        **_COUNTS,
        "delivery_rate": {"type": ["number", "null"],
                          "description": "delivered / (delivered + failed + expired); null with no final message"},
        "reasons": {"type": "array", "items": _REASON,
                    "description": "why the failed, expired and rejected messages did not arrive"},
    },
}
_STATS = {
    "type": "object",
    "properties": {
        "from": {"type": "string"}, "to": {"type": "string"}, "group_by": {"type": "string"},
        "tz": {"type": "string"}, "key": {"type": ["string", "null"]},
        "groups": {"type": "array", "items": {"allOf": [
            {"type": "object", "properties": {"group": {"type": ["string", "null"]}}}, _STATS_ITEM]}},
        "total": _STATS_ITEM,
    },
}
_TIME = {"type": "string", "description": "unix seconds, an ISO date (a whole day; in tz) or an ISO date-time"}


def register(api: Api) -> None:
    async def get_stats(request: Request) -> Response:
        assert request.principal is not None
        try:
            query = build_query(request.query, now=api.intake.wall_clock(), key_id=request.principal.key_id,
                                admin=request.principal.is_admin)
        except BadParameter as exc:
            raise HTTPError(400, f"invalid_{exc.field}", str(exc), exc.field) from None
        except PermissionError as exc:
            raise HTTPError(403, "admin_required", str(exc), "key") from None
        protocols = {c.name: c.protocol for c in api.intake.dispatcher.config.channels}
        return json_response(await api.store.read(stats, query, protocols))

    api.router.add(
        "GET", "/v1/stats", get_stats, auth="key",
        summary="Delivery statistics per group: counts, delivery rate and failure reasons with the raw codes "
                "(the key's own messages; an admin sees all, or one key's with key=)",
        query={
            "from": {**_TIME, "description": _TIME["description"] + "; default: 7 days before to"},
            "to": {**_TIME, "description": _TIME["description"] + "; exclusive; default: now"},
            "group_by": {"type": "string", "enum": list(GROUPS), "default": "day"},
            "tz": {"type": "string", "description": "UTC offset for dates and day groups, e.g. +08:00; default UTC"},
            "key": {"type": "string", "description": "only this API key's messages (admin, or the caller's own)"},
        },
        responses={200: _STATS},
    )
