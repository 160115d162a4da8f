"""The HTTP/1.1 layer: an h11 connection loop on trio (``server``), request and response values
(``types``), typed client errors (``errors``), the routing table with its OpenAPI document
(``router``) and CONTRACT §5 request signing (``auth``).

It knows nothing of messages, channels or the store: routes are registered by the application.
It may import only the standard library, ``trio``, ``h11`` and ``structlog``."""
