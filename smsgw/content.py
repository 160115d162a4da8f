"""Content rules: signatures (签名) and templates (模板) turn a request into the text to send.

This first version passes raw text through unchanged and refuses ``template_id``; the approval
workflow (issue 5) replaces it behind the same interface: ``load`` reads the approved
signatures and templates, ``resolve`` validates one request's content fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import ChannelConfig, Config
from .http.errors import Refused
from .keys import ApiKey

if TYPE_CHECKING:
    from .store.store import Store


@dataclass(frozen=True, slots=True)
class Content:
    """What a message says: the text as sent (signature placed) and where it came from."""

    text: str
    signature: str | None
    template_id: str | None
    kind: str | None  # template kind (verification | notification | marketing); None: unreviewed text


class ContentRules:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store

    async def load(self) -> None:
        """Nothing to read yet."""

    def resolve(self, key: ApiKey, body: Mapping[str, Any], channel: ChannelConfig, *,
                text_field: str = "text") -> Content:
        if body.get("template_id") is not None:
            raise Refused(400, "templates_unavailable",
                            "sending by template_id is not available yet; send \"text\"", "template_id")
        text = body.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise Refused(400, "missing_text", "\"text\" must be a non-empty string", text_field)
        signature = body.get("signature")
        if signature is not None and not isinstance(signature, str):
            raise Refused(400, "invalid_signature", "\"signature\" must be a string", "signature")
        return Content(text, signature, None, None)
