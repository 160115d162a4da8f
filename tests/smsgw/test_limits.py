"""The number rules of ``Limits.check`` on drafts, without a database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smsgw.config import Config, FrequencyLimit, GatewayConfig, PolicyConfig
from smsgw.http.errors import Refused
from smsgw.intake import Draft
from smsgw.keys import ApiKey
from smsgw.limits import Limits
from smsgw.lists import ALL, INSERT_BLACKLIST, MAX_IMPORT_ENTRIES, BlacklistImport, ImportTooLarge, NumberLists

KEY = ApiKey("ak_1", "s", "test", False, True)
NOW = 1_800_000_000.0


def limits(**policy: Any) -> Limits:
    config = Config(Path("channels.toml"), GatewayConfig(), (), policy=PolicyConfig(**policy))
    return Limits(config, None, wall_clock=lambda: NOW)  # type: ignore[arg-type]


def draft(to: str = "13800138000", signature: str | None = "Shop", kind: str | None = None) -> Draft:
    return Draft(to, "hi", "ch", 1, None, None, signature, None, kind)


def refusal(rules: Limits, d: Draft, now: float = NOW, key: ApiKey = KEY) -> Refused:
    with pytest.raises(Refused) as caught:
        rules.check(key, d, now)
    return caught.value


def test_blacklist_scopes() -> None:
    rules = limits(frequency_limits=False)
    rules.lists.block("13800138000", "Shop")
    refused = refusal(rules, draft())
    assert (refused.status, refused.code, refused.field) == (403, "blacklisted", "to")
    rules.check(KEY, draft(signature="Other"), NOW)
    rules.check(KEY, draft(signature=None), NOW)
    rules.lists.block("13800138000", ALL)
    assert refusal(rules, draft(signature=None)).code == "blacklisted"
    assert rules.lists.unblock("13800138000", ALL) == [ALL]
    assert refusal(rules, draft()).code == "blacklisted"
    assert rules.lists.unblock("13800138000", None) == ["Shop"]
    rules.check(KEY, draft(), NOW)


def test_frequency_limit_per_kind_with_retry_at_and_whitelist() -> None:
    kinds = {"verification": FrequencyLimit(2, 5, 10), "notification": FrequencyLimit(1, 5, 10),
             "marketing": FrequencyLimit(1, 1, 1)}
    rules = limits(limits=kinds)
    rules.check(KEY, draft(), NOW)
    refused = refusal(rules, draft(), NOW + 10)
    assert (refused.status, refused.code) == (429, "frequency_limited")
    assert refused.details == {"retry_at": int(NOW + 60)}
    assert refused.headers == (("retry-after", "50"),)
    assert "notification frequency limit (1/minute, 5/hour, 10/day)" in refused.message
    assert "2027-01-15 08:01:00 UTC" in refused.message
    rules.check(KEY, draft(kind="verification"), NOW + 10)  # 2 per minute for verification codes
    assert refusal(rules, draft(kind="marketing"), NOW + 100).details == {"retry_at": int(NOW + 10 + 86400)}
    rules.check(KEY, draft(signature="Other"), NOW + 10)  # another signature counts apart
    rules.lists.exempt.add("13800138000")
    for _ in range(20):
        rules.check(KEY, draft(), NOW + 20)


def test_release_uncounts() -> None:
    rules = limits(key_tps=1)
    rules.check(KEY, draft(), NOW)
    rules.release(KEY, [draft()])
    rules.check(KEY, draft(), NOW)  # the slot and the token came back


def test_key_quota_and_no_token_spent_on_a_frequency_refusal() -> None:
    rules = limits(key_tps=2)
    rules.check(KEY, draft("13800138001"), NOW)
    assert refusal(rules, draft("13800138001"), NOW).code == "frequency_limited"  # gives its token back
    rules.check(KEY, draft("13800138002"), NOW)
    refused = refusal(rules, draft("13800138003"), NOW)
    assert (refused.status, refused.code, refused.details) == (429, "key_quota_exceeded", {"retry_at": int(NOW) + 1})
    rules.check(KEY, draft("13800138003"), NOW, quota=False)  # batch rows: no key quota
    rules.check(ApiKey("ak_2", "s", "other", False, True), draft("13800138004"), NOW)


@pytest.mark.parametrize(("text", "sent_with", "scope"), [
    (" td ", "Shop", "Shop"), ("退订", None, ALL), ("T", "Shop", "Shop"), ("Td", "", ALL)])
def test_unsubscribe_reply(text: str, sent_with: str | None, scope: str) -> None:
    rules = limits()
    if sent_with != "":
        rules.check(KEY, draft(signature="Old"), NOW - 100)
        rules.check(KEY, draft(signature=sent_with), NOW - 50)
    ops: list[Any] = []
    rules.on_mo("cmpp-sim", "8613800138000", "10690000", text, NOW, ops)
    assert [(op[0], op[1]["b_number"], op[1]["b_scope"], op[1]["b_source"]) for op in ops] == [
        (INSERT_BLACKLIST, "13800138000", scope, "mo_unsubscribe")]
    assert rules.lists.has("13800138000", scope)


def test_other_replies_and_bad_senders_change_nothing() -> None:
    rules = limits()
    ops: list[Any] = []
    rules.on_mo("ch", "13800138000", "10690000", "TD please", NOW, ops)
    rules.on_mo("ch", "not a number", "10690000", "TD", NOW, ops)
    assert ops == [] and not rules.lists.blocked


def test_csv_import_counts() -> None:
    lists = NumberLists()
    lists.block("13900139000", ALL)
    job = BlacklistImport(lists)
    rows = [["Number", "reason", "signature"], ["13800138000", "complained", ""], ["+86 138 0013 8000", "", ""],
            ["13900139000", "", ""], ["13900139000", "", "Shop"], ["12345", "", ""], ["13700137000", ""]]
    for line, row in enumerate(rows, 1):
        job.row(line, row)
    assert job.entries == [("13800138000", ALL, "complained"), ("13900139000", "Shop", None)]
    assert (job.duplicate, job.invalid) == (2, 2)
    assert [(e["line"], e["field"]) for e in job.errors] == [(6, "number"), (7, "columns")]


def test_unsubscribe_keyword_typed_in_full_width() -> None:
    # a Chinese input method in full-width mode sends ＴＤ for TD
    rules = limits()
    ops: list[Any] = []
    rules.on_mo("ch", "13800138000", "10690000", "ＴＤ", NOW, ops)
    assert rules.lists.has("13800138000", ALL) and len(ops) == 1


def test_csv_import_holds_a_bounded_number_of_entries() -> None:
    # the upload is verified only when it ends: what is kept until then must be bounded
    job = BlacklistImport(NumberLists())
    job.row(1, ["number"])
    for i in range(MAX_IMPORT_ENTRIES):
        job.row(i + 2, [f"13{i:09d}"])
    job.row(MAX_IMPORT_ENTRIES + 2, ["13000001234"])  # a duplicate takes no room
    with pytest.raises(ImportTooLarge):
        job.row(MAX_IMPORT_ENTRIES + 3, ["13900000000"])
