"""Routes of signatures (签名) and templates (模板): register, list, approve, reject, delete.

A key registers its own (``pending``) and sees its own; an admin key sees all and decides. Each
write updates the content rules' in-memory copy (``ContentRules``) only after it has committed,
so a message is never checked against a decision that could still roll back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from sqlalchemy import Connection, Table, delete, select, update

from .api import Api, _cursor, id_param, json_body, principal
from .content import ContentRules, signature_of, template_of
from .http.errors import HTTPError
from .http.types import Request, Response, json_response
from .store.errors import CommitOutcomeUnknown, UniqueViolation
from .store.schema import signatures, templates
from .templating import KINDS, TemplateError, parse, signature_problem

STATUSES = ("pending", "approved", "rejected")
MAX_REASON = 500
_FIELDS = {"company": 128, "licence": 64, "purpose": 500}  # optional qualification details

_SIGNATURE = {"type": "object", "properties": {
    "id": {"type": "string"}, "key_id": {"type": "string"}, "name": {"type": "string"},
    "company": {"type": ["string", "null"]}, "licence": {"type": ["string", "null"]},
    "purpose": {"type": ["string", "null"]}, "status": {"type": "string", "enum": list(STATUSES)},
    "reason": {"type": ["string", "null"]}, "created_at": {"type": "number"},
    "decided_at": {"type": ["number", "null"]}, "decided_by": {"type": ["string", "null"]}}}
_TEMPLATE = {"type": "object", "properties": {
    "id": {"type": "string"}, "key_id": {"type": "string"}, "name": {"type": "string"},
    "kind": {"type": "string", "enum": list(KINDS)}, "content": {"type": "string"},
    "params": {"type": "array", "items": {"type": "string"}}, "status": {"type": "string", "enum": list(STATUSES)},
    "reason": {"type": ["string", "null"]}, "created_at": {"type": "number"},
    "decided_at": {"type": ["number", "null"]}, "decided_by": {"type": ["string", "null"]}}}
_CREATED = {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}}}
_LIST_QUERY: dict[str, dict[str, Any]] = {
    "status": {"type": "string", "enum": list(STATUSES)}, "after": {"type": "string"}, "limit": {"type": "integer"}}


def register(api: Api) -> None:
    routes = ContentRoutes(api)
    add = api.router.add
    add("POST", "/v1/signatures", routes.post_signature, auth="key", summary="Register a signature (pending)",
        request_schema={"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "description": "the text placed in 【】, 2 to 20 characters"},
            "company": {"type": "string", "description": "company full name"},
            "licence": {"type": "string", "description": "business licence number"},
            "purpose": {"type": "string", "description": "what the messages are for"}}},
        responses={201: _CREATED})
    add("GET", "/v1/signatures", routes.list_signatures, auth="key", query=_LIST_QUERY,
        summary="The key's signatures (admin: all), oldest first",
        responses={200: {"type": "object", "properties": {"items": {"type": "array", "items": _SIGNATURE},
                                                          "next": {"type": "string"}}}})
    add("GET", "/v1/signatures/{id}", routes.get_signature, auth="key", summary="One signature",
        responses={200: _SIGNATURE})
    add("DELETE", "/v1/signatures/{id}", routes.delete_signature, auth="key",
        summary="Delete a signature (messages already accepted are sent as they are)", responses={200: _CREATED})
    add("POST", "/v1/signatures/{id}/approve", routes.approve_signature, auth="admin",
        summary="Approve a signature", responses={200: _SIGNATURE})
    add("POST", "/v1/signatures/{id}/reject", routes.reject_signature, auth="admin",
        summary="Reject (or revoke) a signature with a reason",
        request_schema={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
        responses={200: _SIGNATURE})
    add("POST", "/v1/templates", routes.post_template, auth="key", summary="Register a template (pending)",
        request_schema={"type": "object", "required": ["name", "kind", "content"], "properties": {
            "name": {"type": "string"}, "kind": {"type": "string", "enum": list(KINDS)},
            "content": {"type": "string", "description": "fixed text with {name} variables"}}},
        responses={201: {"type": "object", "properties": {
            "id": {"type": "string"}, "status": {"type": "string"},
            "params": {"type": "array", "items": {"type": "string"}}}}})
    add("GET", "/v1/templates", routes.list_templates, auth="key", query=_LIST_QUERY,
        summary="The key's templates (admin: all), oldest first",
        responses={200: {"type": "object", "properties": {"items": {"type": "array", "items": _TEMPLATE},
                                                          "next": {"type": "string"}}}})
    add("GET", "/v1/templates/{id}", routes.get_template, auth="key", summary="One template",
        responses={200: _TEMPLATE})
    add("DELETE", "/v1/templates/{id}", routes.delete_template, auth="key",
        summary="Delete a template (messages already accepted are sent as they are)", responses={200: _CREATED})
    add("POST", "/v1/templates/{id}/approve", routes.approve_template, auth="admin",
        summary="Approve a template", responses={200: _TEMPLATE})
    add("POST", "/v1/templates/{id}/reject", routes.reject_template, auth="admin",
        summary="Reject (or revoke) a template with a reason",
        request_schema={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
        responses={200: _TEMPLATE})


class ContentRoutes:
    """The handlers; they reach the store, the rules, the clock and the ids through ``api.intake``."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.store = api.store
        # One decision or delete at a time: each writes, reads the row back and copies it into the
        # rules; two at once could copy their read-backs in the wrong order and leave the rules
        # with a state the database no longer has. They are rare admin calls.
        self._changing = trio.Lock()

    @property
    def rules(self) -> ContentRules:
        return self.api.intake.content

    def clock(self) -> float:
        return float(self.api.intake.wall_clock())

    def new_id(self) -> int:
        return self.api.intake.ids.next()

    # --------------------------------------------------------------- signatures
    async def post_signature(self, request: Request) -> Response:
        key = self.api.caller(request)
        body = json_body(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise HTTPError(400, "invalid_signature", "\"name\" must be a string: the text placed in 【】", "name")
        problem = signature_problem(name)
        if problem:
            raise HTTPError(400, "invalid_signature", f"the signature {name!r} {problem}", "name")
        details = {}
        for field, limit in _FIELDS.items():
            value = body.get(field)
            if value is not None and (not isinstance(value, str) or not 0 < len(value.strip()) <= limit):
                raise HTTPError(400, "invalid_field", f"\"{field}\" must be a string of 1 to {limit} characters",
                                field)
            details[field] = value.strip() if value else None
        row = {"id": self.new_id(), "key_id": key.id, "name": name, **details, "status": "pending",
               "reason": None, "created_at": self.clock(), "decided_at": None, "decided_by": None}
        try:
            await self.store.execute([(signatures.insert(), row)])
        except UniqueViolation:
            raise HTTPError(409, "signature_exists", f"this key already has a signature {name!r}; delete it "
                            "first to register it again", "name") from None
        self.rules.put_signature(signature_of(_Row(row)))
        return json_response({"id": str(row["id"]), "status": "pending"}, 201)

    async def list_signatures(self, request: Request) -> Response:
        return await self._list(request, signatures, _signature_json)

    async def get_signature(self, request: Request) -> Response:
        return json_response(_signature_json(await self._one(request, signatures, "signature")))

    async def delete_signature(self, request: Request) -> Response:
        return await self._delete(request, signatures, "signature")

    async def approve_signature(self, request: Request) -> Response:
        return json_response(_signature_json(await self._decide(request, signatures, "signature", "approved", None)))

    async def reject_signature(self, request: Request) -> Response:
        return json_response(_signature_json(await self._decide(request, signatures, "signature", "rejected",
                                                                _reason(request))))

    # ---------------------------------------------------------------- templates
    async def post_template(self, request: Request) -> Response:
        key = self.api.caller(request)
        body = json_body(request)
        name, kind, content = body.get("name"), body.get("kind"), body.get("content")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 64:
            raise HTTPError(400, "invalid_field", "\"name\" must be a string of 1 to 64 characters", "name")
        if kind not in KINDS:
            raise HTTPError(400, "invalid_kind", f"\"kind\" must be one of {', '.join(KINDS)}", "kind")
        if not isinstance(content, str):
            raise HTTPError(400, "invalid_template", "\"content\" must be a string with {name} variables", "content")
        try:
            parsed = parse(content)
        except TemplateError as exc:
            raise HTTPError(400, "invalid_template", f"the content is malformed: {exc}", "content") from None
        row = {"id": self.new_id(), "key_id": key.id, "name": name.strip(), "kind": kind, "content": content,
               "status": "pending", "reason": None, "created_at": self.clock(), "decided_at": None,
               "decided_by": None}
        await self.store.execute([(templates.insert(), row)])
        self.rules.put_template(template_of(_Row(row)))
        return json_response({"id": str(row["id"]), "status": "pending", "params": parsed.params}, 201)

    async def list_templates(self, request: Request) -> Response:
        return await self._list(request, templates, _template_json)

    async def get_template(self, request: Request) -> Response:
        return json_response(_template_json(await self._one(request, templates, "template")))

    async def delete_template(self, request: Request) -> Response:
        return await self._delete(request, templates, "template")

    async def approve_template(self, request: Request) -> Response:
        return json_response(_template_json(await self._decide(request, templates, "template", "approved", None)))

    async def reject_template(self, request: Request) -> Response:
        return json_response(_template_json(await self._decide(request, templates, "template", "rejected",
                                                               _reason(request))))

    # ------------------------------------------------------------------ shared
    async def _one(self, request: Request, table: Table, what: str) -> Any:
        key_id, admin = principal(request)
        row = await self.store.read(_read_one, table, id_param(request), None if admin else key_id)
        if row is None:
            raise HTTPError(404, "not_found", f"no {what} {request.path_params['id']!r} for this key")
        return row

    async def _decide(self, request: Request, table: Table, what: str, status: str, reason: str | None) -> Any:
        async with self._changing:
            row = await self._one(request, table, what)
            values = {"status": status, "reason": reason, "decided_at": self.clock(),
                      "decided_by": principal(request)[0]}
            await self._write(table, row.id, update(table).where(table.c.id == row.id).values(**values))
            # read it back: another process may have changed the row meanwhile, and the in-memory
            # copy must end as the database is
            row = await self._one(request, table, what)
            self._sync(table, row.id, row)
            return row

    async def _delete(self, request: Request, table: Table, what: str) -> Response:
        async with self._changing:
            row = await self._one(request, table, what)
            await self._write(table, row.id, delete(table).where(table.c.id == row.id))
            self._sync(table, row.id, None)
        return json_response({"id": str(row.id), "status": "deleted"})

    async def _write(self, table: Table, row_id: int, statement: Any) -> None:
        """Run one change of a row. When the commit's outcome is unknown (it may have landed),
        the rules take the row as the database now has it before the error goes on: a revoked
        signature or template must not stay usable until a restart."""
        try:
            await self.store.execute([(statement, {})])
        except CommitOutcomeUnknown:
            self._sync(table, row_id, await self.store.read(_read_one, table, row_id, None))
            raise

    def _sync(self, table: Table, row_id: int, row: Any) -> None:
        """The rules' copy of one signature or template set to ``row`` (None: it is gone)."""
        if table is signatures:
            if row is None:
                self.rules.drop_signature(str(row_id))
            else:
                self.rules.put_signature(signature_of(row))
        elif row is None:
            self.rules.drop_template(str(row_id))
        else:
            self.rules.put_template(template_of(row))

    async def _list(self, request: Request, table: Table, to_json: Callable[[Any], dict[str, Any]]) -> Response:
        key_id, admin = principal(request)
        status = request.query.get("status") or None
        if status is not None and status not in STATUSES:
            raise HTTPError(400, "invalid_status", f"\"status\" must be one of {', '.join(STATUSES)}", "status")
        after, limit = _cursor(request)
        rows = await self.store.read(_read_list, table, None if admin else key_id, status, after, limit)
        return json_response({"items": [to_json(r) for r in rows],
                              "next": str(rows[-1].id if rows else after)})


class _Row:
    """An inserted row without reading it back: attribute access like a result row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _reason(request: Request) -> str:
    reason = json_body(request).get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise HTTPError(400, "missing_reason", "a rejection needs \"reason\": a sentence the submitter can act on",
                        "reason")
    if len(reason) > MAX_REASON:
        raise HTTPError(400, "invalid_reason", f"\"reason\" has {len(reason)} characters; at most {MAX_REASON}",
                        "reason")
    return reason.strip()


def _signature_json(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "key_id": row.key_id, "name": row.name, "company": row.company,
            "licence": row.licence, "purpose": row.purpose, "status": row.status, "reason": row.reason,
            "created_at": row.created_at, "decided_at": row.decided_at, "decided_by": row.decided_by}


def _template_json(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "key_id": row.key_id, "name": row.name, "kind": row.kind, "content": row.content,
            "params": parse(row.content).params, "status": row.status, "reason": row.reason,
            "created_at": row.created_at, "decided_at": row.decided_at, "decided_by": row.decided_by}


def _read_one(conn: Connection, table: Table, row_id: int, key_id: str | None) -> Any:
    query = select(table).where(table.c.id == row_id)
    if key_id is not None:
        query = query.where(table.c.key_id == key_id)
    return conn.execute(query).first()


def _read_list(conn: Connection, table: Table, key_id: str | None, status: str | None, after: int,
               limit: int) -> list[Any]:
    query = select(table).where(table.c.id > after).order_by(table.c.id).limit(limit)
    if key_id is not None:
        query = query.where(table.c.key_id == key_id)
    if status is not None:
        query = query.where(table.c.status == status)
    return list(conn.execute(query).all())
