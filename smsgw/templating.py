"""Template text (模板): ``{name}`` variables in fixed text, rendering, and matching raw text.

A template's content is fixed text with ``{name}`` variables (ASCII identifiers). Braces are
for variables only: a lone ``{`` or ``}``, ``{}`` or a name that is not an identifier is
malformed (``TemplateError`` says where). ``【`` and ``】`` are reserved for the signature the
gateway places, so they may appear neither in a template nor in a value.

Raw text is matched against a template with each variable as a wildcard of 1 to
``max_length`` characters that are not line breaks or 【】 (a repeated variable must repeat the
same value), anchored at both ends: the text must be the template's fixed text exactly, with
an acceptable value (``value_problem``, the URL rule included) in each variable's place.
``Parsed.matches`` walks the parts with the set of reachable (position, repeated values)
states instead of a backtracking regex: a regex of several adjacent wildcards takes
exponential time on a text that almost matches (measured: 6 variables 1 s, 8 over 100 s),
and any key allowed raw text could send one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

KINDS = ("verification", "notification", "marketing")
MAX_CONTENT = 1000
MAX_VARIABLES = 16
MAX_NAME = 32
SIGNATURE_OPEN, SIGNATURE_CLOSE = "【", "】"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# States a match may track at once; past it the text is refused (content_not_approved). Only
# repeated variables multiply states (by the values their first occurrence could take).
MAX_MATCH_STATES = 20_000
_LINE_BREAKS = ("\r", "\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c")
# What a variable's value in raw text may not contain: line breaks, signature brackets.
_NOT_WILDCARD = frozenset("".join(_LINE_BREAKS) + SIGNATURE_OPEN + SIGNATURE_CLOSE)
# What counts as a URL in a value: a scheme, "www.", or a host name ending in a common
# top-level domain (e.g. "a.cn/x", "x.com"). Verification codes are digits and letters;
# this only has to catch links slipped into them.
_URL = re.compile(
    r"(?i)[a-z][a-z0-9+.-]*://|www\.|[a-z0-9-]+\.(?:com|cn|net|org|info|top|xyz|io|me|cc|co|vip|shop|link|"
    r"site|online|club|ly|to|app|tv|biz|ink|wang|ltd|group|fun|pro|mobi|asia|hk|tw)(?![a-z0-9-])"
)


class TemplateError(ValueError):
    """Malformed template content; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A template's content split at its variables: ``parts`` alternate text, name, text, ..."""

    content: str
    parts: tuple[str, ...]  # even indexes: fixed text (maybe empty); odd: variable names

    @property
    def params(self) -> list[str]:
        """Variable names in order of first appearance."""
        return list(dict.fromkeys(self.parts[1::2]))

    def render(self, values: Mapping[str, str]) -> str:
        parts = self.parts
        return "".join(parts[i] if i % 2 == 0 else values[parts[i]] for i in range(len(parts)))

    def matches(self, text: str, max_length: int, urls: bool) -> bool:
        """Whether ``text`` is this template with an acceptable value in each variable's place
        (``urls``: whether a value may hold a URL). Linear in the text for templates without
        repeated variables; see the module docstring for why not a regex."""
        runs = [0] * (len(text) + 1)  # runs[p]: wildcard characters in a row from p
        for p in range(len(text) - 1, -1, -1):
            runs[p] = runs[p + 1] + 1 if text[p] not in _NOT_WILDCARD else 0
        check_urls = not urls and ("." in text or ":" in text)  # every _URL match has one of them
        names = self.parts[1::2]
        slots = {name: i for i, name in enumerate(sorted({n for n in names if names.count(n) > 1}))}
        states: set[tuple[int, tuple[str | None, ...]]] = {(0, (None,) * len(slots))}
        for i, part in enumerate(self.parts):
            reached: set[tuple[int, tuple[str | None, ...]]] = set()
            if i % 2 == 0:
                if not part:
                    continue
                reached = {(pos + len(part), b) for pos, b in states if text.startswith(part, pos)}
            else:
                slot = slots.get(part)
                for pos, bound in states:
                    value = bound[slot] if slot is not None else None
                    if value is not None:
                        if text.startswith(value, pos):
                            reached.add((pos + len(value), bound))
                        continue
                    for end in range(pos + 1, pos + min(max_length, runs[pos]) + 1):
                        if check_urls and _URL.search(text, pos, end):
                            continue
                        if slot is None:
                            reached.add((end, bound))
                        else:
                            reached.add((end, (*bound[:slot], text[pos:end], *bound[slot + 1:])))
            if not reached or len(reached) > MAX_MATCH_STATES:
                return False
            states = reached
        return any(pos == len(text) for pos, _ in states)


def parse(content: str) -> Parsed:
    """Split ``content`` at its ``{name}`` variables; ``TemplateError`` when malformed."""
    if not content.strip():
        raise TemplateError("the content is empty")
    if len(content) > MAX_CONTENT:
        raise TemplateError(f"the content has {len(content)} characters; at most {MAX_CONTENT}")
    for mark in (SIGNATURE_OPEN, SIGNATURE_CLOSE):
        at = content.find(mark)
        if at >= 0:
            raise TemplateError(f"{mark!r} at character {at + 1}: 【】 are reserved for the signature, which the "
                                "gateway places itself")
    parts: list[str] = []
    text_start = pos = 0
    while pos < len(content):
        ch = content[pos]
        if ch == "}":
            raise TemplateError(f"'}}' at character {pos + 1} closes no variable; braces only mark {{name}} "
                                "variables")
        if ch != "{":
            pos += 1
            continue
        end = content.find("}", pos + 1)
        inner_open = content.find("{", pos + 1)
        if end < 0 or (0 <= inner_open < end):
            raise TemplateError(f"'{{' at character {pos + 1} is not closed by '}}'")
        name = content[pos + 1:end]
        if not _NAME.fullmatch(name) or len(name) > MAX_NAME:
            raise TemplateError(f"{{{name}}} at character {pos + 1}: a variable name is a letter or '_' then "
                                f"letters, digits or '_', at most {MAX_NAME} characters")
        parts += [content[text_start:pos], name]
        pos = text_start = end + 1
    parts.append(content[text_start:])
    parsed = Parsed(content, tuple(parts))
    if len(parsed.params) > MAX_VARIABLES:
        raise TemplateError(f"{len(parsed.params)} variables; at most {MAX_VARIABLES}")
    if not "".join(parts[0::2]).strip():
        raise TemplateError("the content is only variables; a template needs fixed text to review")
    return parsed


def value_problem(value: str, max_length: int, urls: bool) -> str | None:
    """Why ``value`` may not fill a variable, or None when it may."""
    if not value:
        return "is empty"
    if len(value) > max_length:
        return f"has {len(value)} characters; at most {max_length}"
    if any(br in value for br in _LINE_BREAKS):
        return "contains a line break"
    if SIGNATURE_OPEN in value or SIGNATURE_CLOSE in value:
        return "contains 【 or 】, which are reserved for the signature"
    if not urls and _URL.search(value):
        return "contains a URL, which verification messages may not carry"
    return None


def signature_problem(name: str) -> str | None:
    """Why ``name`` cannot be a signature (the text placed in 【】), or None."""
    if not 2 <= len(name) <= 20:
        return f"has {len(name)} characters; a signature has 2 to 20"
    if name != name.strip():
        return "starts or ends with a space"
    if SIGNATURE_OPEN in name or SIGNATURE_CLOSE in name:
        return "contains 【 or 】"
    if any(not ch.isprintable() for ch in name):
        return "contains a control character or line break"
    return None


def split_signature(text: str) -> tuple[str | None, str]:
    """A 【signature】 at the start or end of ``text`` and the text without it (None: there is none)."""
    if text.startswith(SIGNATURE_OPEN):
        end = text.find(SIGNATURE_CLOSE)
        if end > 0:
            return text[1:end], text[end + 1:]
    if text.endswith(SIGNATURE_CLOSE):
        start = text.rfind(SIGNATURE_OPEN)
        if start >= 0:
            return text[start + 1:-1], text[:start]
    return None, text


def place(text: str, signature: str | None, placement: str) -> str:
    """``text`` with ``【signature】`` where the channel's carrier expects it."""
    if signature is None or placement == "none":
        return text
    mark = SIGNATURE_OPEN + signature + SIGNATURE_CLOSE
    return mark + text if placement == "prefix" else text + mark
