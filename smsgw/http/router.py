"""The routing table: method + path pattern → handler, with the declarations (summary, auth,
schemas) that both enforce auth and produce the OpenAPI document, so the document cannot miss
a route.

Patterns are literal segments and ``{name}`` parameters, each a whole segment. Literal segments
match the raw (still percent-encoded) path; parameters are percent-decoded. Where two patterns
match a path, the one with a literal earlier wins (``/v1/batches/import`` before
``/v1/batches/{id}``); a path that matches with no route for the method answers 405 with Allow.

Schemas (``request_schema``, ``query``, ``responses``) document; handlers still validate.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import unquote

from smsgw.http.auth import PendingSignature, RequestVerifier
from smsgw.http.errors import AuthError, HTTPError
from smsgw.http.types import Request, Response, json_response

Handler = Callable[[Request], Awaitable[Response]]
AuthMode = Literal["key", "admin"] | None
JsonSchema = Mapping[str, Any]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_METHOD = re.compile(r"[A-Z]+")

ERROR_SCHEMA: JsonSchema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "snake_case error code"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the request field or header at fault"},
            },
        }
    },
}

SIGNING_DESCRIPTION = (
    "Every request also carries X-Timestamp (unix seconds, within 300 s of the server), X-Nonce "
    "(at least 16 characters, never reused within 300 s) and X-Signature = hex(HMAC-SHA256(secret, "
    'METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + hex(SHA256(body)))).'
)


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    """One documented response; a bare JSON Schema in ``responses`` is shorthand for this."""

    schema: JsonSchema | None = None
    description: str | None = None
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    summary: str
    auth: AuthMode
    streaming: bool
    request_schema: JsonSchema | None
    request_content_type: str
    query: Mapping[str, JsonSchema]
    responses: Mapping[int, ResponseSpec]
    operation_id: str
    params: tuple[str, ...]


@dataclass(slots=True)
class _Pattern:
    segments: tuple[str | None, ...]  # None: a parameter
    params: tuple[str, ...]
    routes: dict[str, Route] = field(default_factory=dict)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        values = []
        for expected, actual in zip(self.segments, segments):
            if expected is None:
                if not actual:
                    return None
                values.append(unquote(actual))
            elif expected != actual:
                return None
        return dict(zip(self.params, values))


class Router:
    """A handler (``await router(request)``) dispatching to the routes added to it.

    Routes with ``auth`` are checked by ``verifier`` before their handler runs; for a
    ``streaming`` route the signature is checked when the body ends (``Request.stream``).
    """

    def __init__(self, verifier: RequestVerifier | None = None) -> None:
        self.verifier = verifier
        self.routes: list[Route] = []
        self._patterns: dict[tuple[str | None, ...], _Pattern] = {}
        self._by_length: dict[int, list[_Pattern]] = {}

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        summary: str,
        auth: AuthMode = None,
        streaming: bool = False,
        request_schema: JsonSchema | None = None,
        request_content_type: str = "application/json",
        query: Mapping[str, JsonSchema] | None = None,
        responses: Mapping[int, ResponseSpec | JsonSchema] | None = None,
        operation_id: str | None = None,
    ) -> Route:
        """Register a route; ``ValueError`` for a malformed pattern or one that clashes."""
        if not _METHOD.fullmatch(method):
            raise ValueError(f"method {method!r} must be an upper-case HTTP method")
        if auth is not None and self.verifier is None:
            raise ValueError(f"{method} {pattern} needs auth={auth!r} but the router has no verifier")
        segments, params = _parse_pattern(pattern)
        existing = self._patterns.get(segments)
        if existing is not None and existing.params != params:
            raise ValueError(f"{pattern} clashes with a pattern naming its parameters {existing.params}")
        if existing is not None and method in existing.routes:
            raise ValueError(f"{method} {pattern} is already routed")
        op_id = operation_id or _operation_id(method, pattern)
        if any(r.operation_id == op_id for r in self.routes):
            raise ValueError(f"operation id {op_id!r} of {method} {pattern} is already used")
        route = Route(
            method, pattern, handler, summary, auth, streaming, request_schema, request_content_type,
            dict(query or {}),
            {status: spec if isinstance(spec, ResponseSpec) else ResponseSpec(spec)
             for status, spec in (responses or {}).items()},
            op_id, params,
        )
        if existing is None:
            existing = self._patterns[segments] = _Pattern(segments, params)
            candidates = self._by_length.setdefault(len(segments), [])
            candidates.append(existing)
            candidates.sort(key=lambda p: tuple(s is None for s in p.segments))
        existing.routes[method] = route
        self.routes.append(route)
        return route

    def add_openapi_route(self, title: str, version: str, path: str = "/openapi.json") -> Route:
        """Serve ``openapi(title, version)`` at ``path``, without auth."""

        async def openapi_document(request: Request) -> Response:
            return json_response(self.openapi(title, version))

        return self.add(
            "GET", path, openapi_document, summary="This API's OpenAPI 3.1 document",
            responses={200: ResponseSpec({"type": "object"}, "the OpenAPI document")},
        )

    def resolve(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
        """The route and path parameters for a request; ``HTTPError`` 404 or 405."""
        segments = raw_path.split("/")
        allowed: set[str] = set()
        for pattern in self._by_length.get(len(segments), ()):
            params = pattern.match(segments)
            if params is None:
                continue
            route = pattern.routes.get(method)
            if route is not None:
                return route, params
            allowed.update(pattern.routes)
        if not allowed:
            raise HTTPError(404, "not_found", f"no route for {raw_path}")
        allow = ", ".join(sorted(allowed))
        raise HTTPError(
            405, "method_not_allowed", f"{method} is not allowed on {raw_path}; allowed: {allow}",
            headers=(("allow", allow),),
        )

    async def __call__(self, request: Request) -> Response:
        route, request.path_params = self.resolve(request.method, request.raw_path)
        if route.auth is None:
            if not route.streaming:
                await request.read()
            return await route.handler(request)
        assert self.verifier is not None  # add() refuses auth routes without one
        pending = await self.verifier.begin(request, admin=route.auth == "admin")
        failure: AuthError | None = None
        declared = request.headers.get("x-content-sha256")
        if route.streaming and declared is not None:
            return await self._declared(request, route, pending, declared)

        def check(body_sha256: str) -> None:
            nonlocal failure
            try:
                request.principal = pending.finish(body_sha256)
            except AuthError as exc:
                failure = exc
                raise

        request.set_body_check(check)
        if not route.streaming:
            await request.read()
            return await route.handler(request)
        response = await route.handler(request)
        await request.drain()
        if failure is not None:
            # Even if the handler caught it: its answer was built on an unverified body.
            raise failure
        return response

    async def _declared(self, request: Request, route: Route, pending: PendingSignature, declared: str) -> Response:
        """A streamed body whose SHA-256 the client declared in ``X-Content-SHA256``: the signature
        is checked against it before the handler reads a byte (a forged upload writes nothing), and
        the body must then hash to it (else 401 ``body_mismatch`` after the last chunk)."""
        declared = declared.lower()
        if len(declared) != 64 or not all(c in "0123456789abcdef" for c in declared):
            raise AuthError(401, "bad_content_sha256", "X-Content-SHA256 must be 64 hex digits: the SHA-256 of "
                            "the body the signature covers", "X-Content-SHA256")
        request.principal = pending.finish(declared)
        mismatch: AuthError | None = None

        def check(body_sha256: str) -> None:
            nonlocal mismatch
            if body_sha256 != declared:
                mismatch = AuthError(401, "body_mismatch", "the body's SHA-256 differs from X-Content-SHA256",
                                     "X-Content-SHA256")
                raise mismatch

        request.set_body_check(check)
        response = await route.handler(request)
        await request.drain()
        if mismatch is not None:
            raise mismatch
        return response

    def openapi(self, title: str, version: str) -> dict[str, Any]:
        """An OpenAPI 3.1 document of every route, in the order they were added."""
        paths: dict[str, dict[str, Any]] = {}
        for route in self.routes:
            paths.setdefault(route.pattern, {})[route.method.lower()] = _operation(route)
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": {"Error": dict(ERROR_SCHEMA)},
                "securitySchemes": {
                    "signedKey": {
                        "type": "apiKey", "in": "header", "name": "X-Api-Key",
                        "description": SIGNING_DESCRIPTION,
                    }
                },
            },
        }


def _parse_pattern(pattern: str) -> tuple[tuple[str | None, ...], tuple[str, ...]]:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with /")
    segments: list[str | None] = []
    params: list[str] = []
    for segment in pattern.split("/"):
        param = _PARAM.fullmatch(segment)
        if param is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"in {pattern!r}, a parameter must be a whole segment: {segment!r}")
            segments.append(segment)
            continue
        if param.group(1) in params:
            raise ValueError(f"parameter {param.group(1)!r} appears twice in {pattern!r}")
        params.append(param.group(1))
        segments.append(None)
    return tuple(segments), tuple(params)


def _operation_id(method: str, pattern: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", pattern)
    return "_".join([method.lower(), *words])


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in route.params
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": dict(schema)}
        for name, schema in route.query.items()
    ]
    if parameters:
        op["parameters"] = parameters
    if route.request_schema is not None:
        op["requestBody"] = {
            "required": True,
            "content": {route.request_content_type: {"schema": dict(route.request_schema)}},
        }
    responses = {
        str(status): _response(status, spec) for status, spec in sorted(route.responses.items())
    }
    if route.auth is None:
        op["security"] = []
    else:
        op["security"] = [{"signedKey": []}]
        responses.setdefault("401", _error_response("missing, unknown, stale, replayed or bad signature"))
    if route.auth == "admin":
        op["x-admin-required"] = True
        responses.setdefault("403", _error_response("the key is not an admin key"))
    responses["default"] = _error_response("error")
    op["responses"] = responses
    return op


def _response(status: int, spec: ResponseSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": spec.description or HTTPStatus(status).phrase}
    if spec.schema is not None:
        doc["content"] = {spec.content_type: {"schema": dict(spec.schema)}}
    return doc


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
