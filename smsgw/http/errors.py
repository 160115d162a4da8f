"""Typed HTTP errors. Raising ``HTTPError`` anywhere under a handler (including while the body is
read) answers the client with CONTRACT's error shape instead of a 500.

    HTTPError                 status, snake_case code, sentence, optional field
     ├── AuthError            401 / 403 from request signing (``auth.py``)
     └── Refused              4xx refusal of one message or batch row (validation, content, number rules)
"""

from __future__ import annotations


class HTTPError(Exception):
    """A request the server refuses, with the status and error code the client should see."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        details: dict[str, object] | None = None,
    ) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"HTTPError status must be 4xx or 5xx, not {status}")
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.details = details  # extra machine-readable members of the error object, e.g. retry_at


class AuthError(HTTPError):
    """A request whose signing headers are missing, wrong, stale, replayed or not admin enough."""


class Refused(HTTPError):
    """A 4xx refusal of one message (or one batch row), with its code and field; batches count
    and report these per row instead of failing the whole request."""
