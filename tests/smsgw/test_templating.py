"""Template parsing, rendering and wildcard matching (smsgw.templating), and the content rules
(smsgw.content.ContentRules.resolve) on an in-memory set of signatures and templates."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smsgw.config import ChannelConfig, Config, GatewayConfig, PolicyConfig
from smsgw.content import Content, ContentRules, Signature, Template
from smsgw.http.errors import Refused
from smsgw.keys import ApiKey
from smsgw.templating import (
    TemplateError,
    parse,
    place,
    signature_problem,
    split_signature,
    value_problem,
)

MAX = 20
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True)
# fixed text: anything but braces and 【】 (CJK, ASCII, punctuation, line breaks)
fixed = st.text(st.characters(blacklist_characters="{}【】", blacklist_categories=("Cs",)), max_size=12)
value_chars = st.characters(blacklist_characters="【】\r\n\u2028\u2029\x85\x0b\x0c", blacklist_categories=("Cs",))
values = st.text(value_chars, min_size=1, max_size=MAX)
full_values = st.text(value_chars, min_size=MAX, max_size=MAX)


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Template content with 0-4 variables (names may repeat) and at least one fixed character."""
    pieces, used = [draw(fixed)], []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(used)) if used and draw(st.booleans()) else draw(names)
        used.append(name)
        pieces += ["{" + name + "}", draw(fixed)]
    content = "".join(pieces)
    assume("".join(pieces[0::2]).strip())
    return content, used


# ------------------------------------------------------------------------------ parsing
def test_parse_finds_variables_in_order_once_each() -> None:
    parsed = parse("尊敬的{name}，您的订单{order}已发货，{name}请查收。")
    assert parsed.params == ["name", "order"]
    assert parsed.render({"name": "李", "order": "A1"}) == "尊敬的李，您的订单A1已发货，李请查收。"


@pytest.mark.parametrize(("content", "says"), [
    ("验证码{code", "not closed"),
    ("验证码{co{de}", "not closed"),
    ("验证码code}", "closes no variable"),
    ("验证码{}", "variable name"),
    ("验证码{1x}", "variable name"),
    ("验证码{co de}", "variable name"),
    ("验证码{" + "x" * 33 + "}", "variable name"),
    ("【某某】验证码{code}", "reserved for the signature"),
    ("{a}{b}", "only variables"),
    ("   ", "empty"),
    ("x" * 1001, "at most 1000"),
    ("x" + "".join(f"{{v{i}}}" for i in range(17)), "at most 16"),
])
def test_malformed_templates_say_what_and_where(content: str, says: str) -> None:
    with pytest.raises(TemplateError, match=says):
        parse(content)


@given(templates())
def test_parse_round_trips(template: tuple[str, list[str]]) -> None:
    content, used = template
    parsed = parse(content)
    assert parsed.params == list(dict.fromkeys(used))
    assert parsed.render({n: "{" + n + "}" for n in parsed.params}) == content


@given(st.text(max_size=30))
def test_parse_either_parses_or_raises_template_error(content: str) -> None:
    try:
        parsed = parse(content)
    except TemplateError:
        return
    assert not any(brace in part for part in parsed.parts[0::2] for brace in "{}")
    assert parsed.render({n: "{" + n + "}" for n in parsed.params}) == content


# ----------------------------------------------------------------------------- matching
@given(templates(), st.data())
def test_a_rendered_template_matches_its_own_template(template: tuple[str, list[str]], data: st.DataObject) -> None:
    parsed = parse(template[0])
    filled = {name: data.draw(values) for name in parsed.params}
    assert parsed.matches(parsed.render(filled), MAX, urls=True)


@given(templates(), st.data(), st.text(min_size=1, max_size=5))
def test_extra_text_anywhere_does_not_match(template: tuple[str, list[str]], data: st.DataObject, extra: str) -> None:
    parsed = parse(template[0])
    # values of the longest length a variable may take: no variable can absorb the extra text
    filled = {name: data.draw(full_values) for name in parsed.params}
    text = parsed.render(filled)
    at = data.draw(st.integers(0, len(text)))
    assert not parsed.matches(text[:at] + extra + text[at:], MAX, urls=True)


@given(templates(), st.data())
def test_changing_fixed_text_does_not_match(template: tuple[str, list[str]], data: st.DataObject) -> None:
    parsed = parse(template[0])
    filled = {name: data.draw(values) for name in parsed.params}
    text = parsed.render(filled)
    assume(parsed.parts[0])
    changed = ("X" if parsed.parts[0][0] != "X" else "Y") + text[1:]
    assert not parsed.matches(changed, MAX, urls=True)


def test_wildcards_take_no_line_breaks_or_signatures_and_repeats_must_agree() -> None:
    parsed = parse("验证码{code}，{name}好，再见{name}")

    def matches(text: str) -> bool:
        return parsed.matches(text, 6, urls=True)

    assert matches("验证码123456，李好，再见李")
    assert not matches("验证码1234567，李好，再见李")  # longer than 6
    assert not matches("验证码12\n34，李好，再见李")
    assert not matches("验证码【假】，李好，再见李")
    assert not matches("验证码1234，李好，再见王")
    assert not matches("验证码，李好，再见李")  # a variable is never empty
    assert matches("验证码1，好好好，再见好好")  # {name} = 好好 (the first split 好 would not repeat)


def test_urls_are_refused_in_values_only_where_another_split_cannot_avoid_them() -> None:
    parsed = parse("码{a}，{b}")
    assert not parsed.matches("码x.com，1", 20, urls=False)  # {a} can only be x.com
    assert parsed.matches("码x.com，1", 20, urls=True)
    assert parse("码{a}{b}").matches("码ab.com", 20, urls=False)  # a=ab, b=.com: neither is a URL
    assert parse("链接x.cn{a}").matches("链接x.cn12", 20, urls=False)  # the URL is fixed text, not a value


@given(templates(), st.data())
def test_matches_agrees_with_a_backtracking_regex_on_small_inputs(template: tuple[str, list[str]],
                                                                   data: st.DataObject) -> None:
    """The regex the matcher replaced (exponential in the worst case, exact on small inputs)."""
    parsed = parse(template[0])
    pieces, groups = [], {}
    for i, part in enumerate(parsed.parts):
        if i % 2 == 0:
            pieces.append(re.escape(part))
        elif part in groups:
            pieces.append(f"(?P={groups[part]})")
        else:
            groups[part] = f"v{len(groups)}"
            pieces.append(f"(?P<{groups[part]}>[^\\n【】]{{1,3}})")
    oracle = re.compile("".join(pieces))
    filled = {name: data.draw(st.text("ab\n【", min_size=0, max_size=4)) for name in parsed.params}
    text = parsed.render(filled)
    assert parsed.matches(text, 3, urls=True) == (oracle.fullmatch(text) is not None)


@pytest.mark.parametrize("separator", ["", "x"])
def test_many_variables_cannot_stall_the_matcher(separator: str) -> None:
    """A text that almost matches a template of many wildcards: a backtracking regex took
    seconds (6 variables) to minutes (8); the state walk stays linear."""
    parsed = parse(separator.join(f"{{v{i}}}" for i in range(16)) + "。")
    text = "y" * 300 + "!"
    started = time.perf_counter()
    assert not parsed.matches(text, 20, urls=False)
    # repeated variables multiply the states by their possible values: capped, then refused
    repeated = parse("{a}{b}{c}{d}{a}{b}{c}{d}。")
    assert not repeated.matches("z" * 160 + "。", 20, urls=False)
    assert repeated.matches("abcdabcd。", 20, urls=False)
    assert time.perf_counter() - started < 2.0


# ------------------------------------------------------------------------ values, names
@pytest.mark.parametrize(("value", "urls", "problem"), [
    ("123456", False, None),
    ("", False, "is empty"),
    ("x" * 21, False, "at most 20"),
    ("12\r\n", False, "line break"),
    ("【某】", False, "reserved"),
    ("http://a.b", False, "URL"),
    ("HTTPS://x", False, "URL"),
    ("www.x.y", False, "URL"),
    ("t.cn/abc", False, "URL"),
    ("evil.com", False, "URL"),
    ("evil.com", True, None),
    ("3.14", False, None),
    ("Mr.Li", False, None),
    ("a.combo", False, None),
])
def test_value_rules(value: str, urls: bool, problem: str | None) -> None:
    found = value_problem(value, 20, urls)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(("name", "ok"), [("某某科技", True), ("AB", True), ("A", False), ("x" * 21, False),
                                          ("【某】", False), (" 某某", False), ("某\n某", False)])
def test_signature_names(name: str, ok: bool) -> None:
    assert (signature_problem(name) is None) == ok


def test_split_and_place_signatures() -> None:
    assert split_signature("【某某】你好") == ("某某", "你好")
    assert split_signature("你好【某某】") == ("某某", "你好")
    assert split_signature("你好") == (None, "你好")
    assert split_signature("【未闭合你好") == (None, "【未闭合你好")
    assert place("你好", "某某", "prefix") == "【某某】你好"
    assert place("你好", "某某", "suffix") == "你好【某某】"
    assert place("你好", "某某", "none") == "你好"
    assert place("你好", None, "prefix") == "你好"


# ---------------------------------------------------------------------- content rules
def _rules(**policy: Any) -> ContentRules:
    config = Config(Path("x.toml"), GatewayConfig(), (), policy=PolicyConfig(**policy))
    rules = ContentRules(config, store=None)  # type: ignore[arg-type]
    rules.put_signature(Signature("1", "k", "某某科技", "approved"))
    rules.put_signature(Signature("2", "k", "待审科技", "pending"))
    rules.put_template(Template("10", "k", "verification", parse("验证码{code}，勿告诉他人。"), "approved"))
    rules.put_template(Template("11", "k", "notification", parse("您的快递{no}已到{place}。"), "approved"))
    rules.put_template(Template("12", "k", "marketing", parse("双十一{x}折"), "pending"))
    return rules


KEY = ApiKey("k", "s", "n", False, True)
CHANNEL = ChannelConfig("c", "cmpp3", "h", 1, "u", "p")


def test_resolve_by_template_and_by_text() -> None:
    rules = _rules()
    content = rules.resolve(KEY, {"template_id": "10", "params": {"code": 123456}, "signature": "某某科技"}, CHANNEL)
    assert content == Content("【某某科技】验证码123456，勿告诉他人。", "某某科技", "10", "verification")
    text = "您的快递SF1已到北京驿站。【某某科技】"
    content = rules.resolve(KEY, {"text": text}, dataclasses.replace(CHANNEL, signature_placement="suffix"))
    assert (content.text, content.template_id, content.kind) == (text, "11", "notification")


def test_a_decision_takes_effect_at_once() -> None:
    rules = _rules()
    body = {"text": "双十一5折", "signature": "某某科技"}
    with pytest.raises(Refused, match="approved templates"):
        rules.resolve(KEY, body, CHANNEL)
    rules.put_template(Template("12", "k", "marketing", parse("双十一{x}折"), "approved"))
    assert rules.resolve(KEY, body, CHANNEL).template_id == "12"  # the match cache was dropped
    rules.drop_template("12")
    with pytest.raises(Refused) as caught:
        rules.resolve(KEY, body, CHANNEL)
    assert caught.value.code == "content_not_approved"
    rules.put_signature(Signature("1", "k", "某某科技", "rejected"))
    with pytest.raises(Refused) as caught:
        rules.resolve(KEY, {"template_id": "10", "params": {"code": "1"}, "signature": "某某科技"}, CHANNEL)
    assert caught.value.code == "signature_not_approved"


def test_verification_urls_allowed_when_configured() -> None:
    body = {"template_id": "10", "params": {"code": "t.cn/x"}, "signature": "某某科技"}
    with pytest.raises(Refused) as caught:
        _rules().resolve(KEY, body, CHANNEL)
    assert (caught.value.code, caught.value.field) == ("invalid_param", "params.code")
    assert _rules(verification_urls=True).resolve(KEY, body, CHANNEL).text == "【某某科技】验证码t.cn/x，勿告诉他人。"
    text = {"text": "验证码t.cn/x，勿告诉他人。", "signature": "某某科技"}
    with pytest.raises(Refused, match="approved templates"):
        _rules().resolve(KEY, text, CHANNEL)
    assert _rules(verification_urls=True).resolve(KEY, text, CHANNEL).template_id == "10"


def test_review_off() -> None:
    rules = _rules(content_review=False)
    assert rules.resolve(KEY, {"text": "随便"}, CHANNEL) == Content("随便", None, None, None)
    content = rules.resolve(KEY, {"text": "【别的】随便"}, CHANNEL)
    assert (content.text, content.signature, content.kind) == ("【别的】随便", None, None)
    assert rules.resolve(KEY, {"text": "随便", "signature": "待审科技"}, CHANNEL).text == "【待审科技】随便"
    assert rules.resolve(KEY, {"template_id": 12, "params": {"x": "5"}}, CHANNEL).text == "双十一5折"
