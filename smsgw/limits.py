"""Number rules: blacklist, whitelist, frequency limits per (number, signature), key quotas.

This first version admits everything; issue 5 fills it in behind the same interface: ``load``
reads the lists and recent sends, ``check`` refuses or counts one send (synchronously, so two
concurrent requests cannot both take the last slot), ``release`` uncounts sends whose write
failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import Config
from .keys import ApiKey

if TYPE_CHECKING:
    from .intake import Draft
    from .store.store import Store


class Limits:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store

    async def load(self) -> None:
        """Nothing to read yet."""

    def check(self, key: ApiKey, draft: Draft, now: float) -> None:
        """Admit everything (no rules yet)."""

    def release(self, key: ApiKey, drafts: list[Draft]) -> None:
        """Nothing was counted."""
