"""Content rules: signatures (签名) and templates (模板) turn a request into the text to send.

``load`` reads every signature and template into memory; the API's routes (``api_content``)
update that copy after their writes commit, so ``resolve`` — called per message and per batch
row — is synchronous and touches no database.

With ``[policy] content_review`` on (the default), a message must carry an approved signature
of its key, either as ``"signature"`` or as a 【signature】 at the start or end of ``"text"``,
and its content must be an approved template of the key: by ``template_id`` + ``params``, or as
raw ``"text"`` (keys with ``allow_text`` only) that matches one, variables as wildcards. With it
off, text need not match a template, and a given signature need not be registered (one the key
registered must not be rejected); templates and the ``allow_text`` right still apply. The signature is then placed as
the channel's ``signature_placement`` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from .config import ChannelConfig, Config
from .http.errors import Refused
from .keys import ApiKey
from .store.schema import signatures, templates
from .templating import Parsed, parse, place, signature_problem, split_signature, value_problem

if TYPE_CHECKING:
    from .store.store import Store

MATCH_CACHE = 4096  # (key, raw text) → matched template; a batch repeats one text per row


@dataclass(frozen=True, slots=True)
class Content:
    """What a message says: the text as sent (signature placed) and where it came from."""

    text: str
    signature: str | None
    template_id: str | None
    kind: str | None  # template kind (verification | notification | marketing); None: unreviewed text


@dataclass(frozen=True, slots=True)
class Signature:
    id: str
    key_id: str
    name: str
    status: str  # pending | approved | rejected


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    key_id: str
    kind: str
    parsed: Parsed
    status: str


class ContentRules:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.policy = config.policy
        self.store = store
        self.signatures: dict[tuple[str, str], Signature] = {}  # (key id, name)
        self.templates: dict[str, Template] = {}
        self._approved: dict[str, list[Template]] = {}  # key id → approved templates, oldest first
        self._matches: dict[tuple[str, str], Template | None] = {}
        self.version = 0  # counts changes: what ``resolve`` answered before may differ after one

    async def load(self) -> None:
        """Read every signature and template (all states: the refusals name the state)."""
        sigs, tmpls = await self.store.read(_load_all)
        self.signatures = {(s.key_id, s.name): s for s in sigs}
        self.templates = {t.id: t for t in tmpls}
        self._changed()

    # ------------------------------------------------ the API's committed changes
    def put_signature(self, signature: Signature) -> None:
        self.version += 1
        self.signatures = {k: s for k, s in self.signatures.items() if s.id != signature.id}
        self.signatures[(signature.key_id, signature.name)] = signature

    def drop_signature(self, signature_id: str) -> None:
        self.version += 1
        self.signatures = {k: s for k, s in self.signatures.items() if s.id != signature_id}

    def put_template(self, template: Template) -> None:
        self.templates[template.id] = template
        self._changed()

    def drop_template(self, template_id: str) -> None:
        self.templates.pop(template_id, None)
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        approved: dict[str, list[Template]] = {}
        for t in sorted(self.templates.values(), key=lambda t: int(t.id)):
            if t.status == "approved":
                approved.setdefault(t.key_id, []).append(t)
        self._approved = approved
        self._matches = {}

    # ------------------------------------------------------------------ sending
    def resolve(self, key: ApiKey, body: Mapping[str, Any], channel: ChannelConfig, *,
                text_field: str = "text") -> Content:
        """The text to send for one request, or ``Refused`` naming the field at fault."""
        review = self.policy.content_review
        template_id, text, signature = body.get("template_id"), body.get(text_field), body.get("signature")
        if signature is not None and not isinstance(signature, str):
            raise Refused(400, "invalid_signature", "\"signature\" must be a string", "signature")
        if template_id is not None:
            if text is not None:
                raise Refused(400, "conflicting_content", f"give either \"{text_field}\" or \"template_id\", "
                              "not both", "template_id")
            by_id = self._template(key, template_id, review)
            body_text = by_id.parsed.render(self._values(by_id, body.get("params")))
            template: Template | None = by_id
        else:
            if not isinstance(text, str) or not text.strip():
                raise Refused(400, "missing_text", f"\"{text_field}\" must be a non-empty string (or send "
                              "\"template_id\" and \"params\")", text_field)
            body_text = text
            if signature is not None or review:
                embedded, body_text = split_signature(text)
                if embedded is not None and signature is not None and embedded != signature:
                    raise Refused(400, "signature_mismatch", f"the text carries 【{embedded}】 but \"signature\" "
                                  f"is {signature!r}", "signature")
                signature = signature if embedded is None else embedded
                if not body_text.strip():
                    raise Refused(400, "missing_text", f"\"{text_field}\" has nothing besides its signature",
                                  text_field)
            if not key.allow_text:
                raise Refused(403, "text_not_allowed", "this key may send only by \"template_id\" and \"params\"",
                              text_field)
            template = self._match(key.id, body_text) if review else None
            if review and template is None:
                raise Refused(403, "content_not_approved", "the text matches none of this key's approved "
                              f"templates (a variable matches 1 to {self.policy.max_param_length} characters "
                              "without line breaks)", text_field)
        self._check_signature(key, signature, review)
        return Content(place(body_text, signature, channel.signature_placement), signature,
                       template.id if template else None, template.kind if template else None)

    def _check_signature(self, key: ApiKey, name: str | None, review: bool) -> None:
        if name is None:
            if review:
                raise Refused(400, "missing_signature", "a message needs an approved signature: give \"signature\" "
                              "or start the text with 【signature】", "signature")
            return
        found = self.signatures.get((key.id, name))
        if found is None and not review:
            # review happens elsewhere: an unregistered name is placed as given once well-formed
            if (problem := signature_problem(name)) is not None:
                raise Refused(400, "invalid_signature", f"the signature {name!r} {problem}", "signature")
            return
        if found is None:
            raise Refused(400, "unknown_signature", f"this key has no signature {name!r} (register it with POST "
                          "/v1/signatures)", "signature")
        if found.status == "rejected" or (review and found.status != "approved"):
            raise Refused(403, "signature_not_approved", f"the signature {name!r} is {found.status}, not approved",
                          "signature")

    def _template(self, key: ApiKey, raw: object, review: bool) -> Template:
        template_id = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        found = self.templates.get(template_id) if isinstance(template_id, str) else None
        if found is None or found.key_id != key.id:
            raise Refused(400, "unknown_template", f"this key has no template {raw!r}", "template_id")
        if found.status == "rejected" or (review and found.status != "approved"):
            raise Refused(403, "template_not_approved", f"template {template_id} is {found.status}, not approved",
                          "template_id")
        return found

    def _values(self, template: Template, params: object) -> dict[str, str]:
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise Refused(400, "invalid_params", "\"params\" must be an object of variable names to values",
                          "params")
        names = template.parsed.params
        for name in names:
            if name not in params:
                raise Refused(400, "missing_param", f"template {template.id} needs {{{name}}}", f"params.{name}")
        for name in params:
            if name not in names:
                raise Refused(400, "unexpected_param", f"template {template.id} has no variable {{{name}}}; it has "
                              f"{', '.join(names) or 'none'}", f"params.{name}")
        urls = template.kind != "verification" or self.policy.verification_urls
        values = {}
        for name in names:
            value = params[name]
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            problem = "is not a string" if not isinstance(value, str) else value_problem(
                value, self.policy.max_param_length, urls)
            if problem:
                raise Refused(400, "invalid_param", f"the value of {{{name}}} {problem}", f"params.{name}")
            values[name] = value
        return values

    def _match(self, key_id: str, text: str) -> Template | None:
        """The first approved template of the key (oldest first) that ``text`` matches in full."""
        cache_key = (key_id, text)
        if cache_key in self._matches:
            return self._matches[cache_key]
        limit = self.policy.max_param_length
        urls = self.policy.verification_urls
        found = None
        for template in self._approved.get(key_id, ()):
            if template.parsed.matches(text, limit, urls or template.kind != "verification"):
                found = template
                break
        if len(self._matches) >= MATCH_CACHE:
            self._matches.clear()
        self._matches[cache_key] = found
        return found


def signature_of(row: Any) -> Signature:
    return Signature(str(row.id), row.key_id, row.name, row.status)


def template_of(row: Any) -> Template:
    return Template(str(row.id), row.key_id, row.kind, parse(row.content), row.status)


def _load_all(conn: Connection) -> tuple[list[Signature], list[Template]]:
    s, t = signatures.c, templates.c
    sigs = [signature_of(r) for r in conn.execute(select(s.id, s.key_id, s.name, s.status))]
    tmpls = [template_of(r) for r in conn.execute(select(t.id, t.key_id, t.kind, t.content, t.status))]
    return sigs, tmpls
