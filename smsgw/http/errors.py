"""Typed HTTP errors. Raising ``HTTPError`` anywhere under a handler (including while the body is
read) answers the client with CONTRACT's error shape instead of a 500.

    HTTPError                 status, snake_case code, sentence, optional field
     └── AuthError            401 / 403 from request signing (``auth.py``)
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
    ) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"HTTPError status must be 4xx or 5xx, not {status}")
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


class AuthError(HTTPError):
    """A request whose signing headers are missing, wrong, stale, replayed or not admin enough."""
