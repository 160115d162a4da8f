"""Blacklist, whitelist, frequency limits, key quota and MO unsubscribe through the HTTP API
against the simulators (issue 5, "Number lists and limits")."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from sqlalchemy import func, select

from smsgw.store.schema import messages

from .harness import Harness, gateway_with_sims, number
from .store_faults import next_commit_unanswered

POLICY: dict[str, Any] = {"content_review": False, "frequency_limits": True}
N = number("cmpp", 1)


def recorded_dests(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [dest for line in path.read_text().splitlines() for dest in json.loads(line)["dests"]]


async def message_count(h: Harness, to: str) -> int:
    return int(await h.gateway.store.read(
        lambda conn: conn.execute(select(func.count()).select_from(messages).where(messages.c.to_number == to))
        .scalar_one()))


async def test_blacklisted_number_gets_nothing_until_removed(tmp_path: Path, db_url: str | None) -> None:
    record = tmp_path / "cmpp.jsonl"
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY, db_url=db_url,
                                     sim_options={"cmpp": {"record": str(record)}}) as h:
            added = await h.call("POST", "/v1/blacklist", {"number": f"+86 {N[:3]}-{N[3:7]}-{N[7:]}",
                                                           "reason": "complained"})
            assert added.status_code == 201, added.text
            entry = added.json()
            assert entry["number"] == N and entry["signature"] is None and entry["source"] == "admin"
            assert (await h.call("POST", "/v1/blacklist", {"number": N})).status_code == 200  # already there
            refused = await h.call("POST", "/v1/messages", {"to": N, "text": "hi", "signature": "Shop"})
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "blacklisted" and N in refused.json()["error"]["message"]
            scoped = number("cmpp", 2)
            assert (await h.call("POST", "/v1/blacklist", {"number": scoped, "signature": "Shop"})).status_code == 201
            assert (await h.call("POST", "/v1/messages", {"to": scoped, "text": "hi", "signature": "Shop"})
                    ).status_code == 403
            other = await h.send(scoped, "hi", signature="Bank")  # another signature may still send
            await h.wait_status(other, {"delivered"})
            listed = (await h.call("GET", f"/v1/blacklist?number={scoped}")).json()["items"]
            assert [(i["number"], i["signature"]) for i in listed] == [(scoped, "Shop")]
            assert await message_count(h, N) == 0
            h.sims["cmpp"].recorder.flush()
            assert N not in recorded_dests(record)

            removed = await h.call("DELETE", f"/v1/blacklist/{N}")
            assert removed.status_code == 200 and removed.json()["removed"] == [None]
            assert (await h.call("DELETE", f"/v1/blacklist/{N}")).json()["error"]["code"] == "not_found"
            sent = await h.send(N, "hi again", signature="Shop")
            await h.wait_status(sent, {"delivered"})
            h.sims["cmpp"].recorder.flush()
            assert recorded_dests(record).count(N) == 1
            # non-admin keys can neither read nor change the lists
            other_key = h.new_key()
            assert (await h.call("GET", "/v1/blacklist", key=other_key)).status_code == 403
            assert (await h.call("POST", "/v1/whitelist", {"number": N}, key=other_key)).status_code == 403
            bad = await h.call("POST", "/v1/blacklist", {"number": "12345"})
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_number"


async def test_whitelist_capacity_and_exemption(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), db_url=db_url,
                                     policy={**POLICY, "whitelist_capacity": 2}) as h:
            vip, tester, third = number("cmpp", 10), number("cmpp", 11), number("cmpp", 12)
            assert (await h.call("POST", "/v1/whitelist", {"number": vip, "reason": "VIP"})).status_code == 201
            assert (await h.call("POST", "/v1/whitelist", {"number": tester})).status_code == 201
            assert (await h.call("POST", "/v1/whitelist", {"number": vip})).status_code == 200  # no new slot
            full = await h.call("POST", "/v1/whitelist", {"number": third})
            assert full.status_code == 409 and full.json()["error"]["code"] == "whitelist_full"
            listing = (await h.call("GET", "/v1/whitelist")).json()
            assert [i["number"] for i in listing["items"]] == [vip, tester]
            assert (listing["count"], listing["capacity"]) == (2, 2)

            for _ in range(3):  # exempt from 1 per minute
                await h.send(vip, "hello", signature="Shop")
            await h.send(third, "hello", signature="Shop")
            limited = await h.call("POST", "/v1/messages", {"to": third, "text": "x", "signature": "Shop"})
            assert limited.status_code == 429

            assert (await h.call("DELETE", f"/v1/whitelist/{vip}")).status_code == 200
            assert (await h.call("DELETE", f"/v1/whitelist/{vip}")).status_code == 404
            assert (await h.call("POST", "/v1/whitelist", {"number": third})).status_code == 201
            await h.send(vip, "x", signature="Shop")  # its exempt sends were not counted; this one is
            again = await h.call("POST", "/v1/messages", {"to": vip, "text": "x", "signature": "Shop"})
            assert again.status_code == 429
            # whitelisting does not lift the blacklist
            await h.call("POST", "/v1/blacklist", {"number": third})
            blocked = await h.call("POST", "/v1/messages", {"to": third, "text": "x", "signature": "New"})
            assert blocked.json()["error"]["code"] == "blacklisted"


async def test_frequency_limit_then_429_with_retry_at(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            before = time.time()
            first = await h.send(N, "code 1234", signature="Shop")
            refused = await h.call("POST", "/v1/messages", {"to": N, "text": "code 5678", "signature": "Shop"})
            assert refused.status_code == 429
            error = refused.json()["error"]
            assert error["code"] == "frequency_limited" and error["field"] == "to"
            assert before + 60 <= error["retry_at"] <= time.time() + 61
            assert 1 <= int(refused.headers["retry-after"]) <= 61
            assert "the next message is allowed at" in error["message"]
            await h.send(N, "other brand", signature="Bank")  # per (number, signature)
            assert await message_count(h, N) == 2
            # a retried request (same client_ref) gets its first message back, not the limit's refusal
            retried = number("cmpp", 5)
            once = await h.send(retried, "once", signature="Shop", client_ref="retry-1")
            assert await h.send(retried, "once", signature="Shop", client_ref="retry-1") == once
            assert await message_count(h, retried) == 1
            await h.wait_status(first, {"delivered"})


async def test_limits_and_lists_hold_across_a_restart(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            await h.send(N, "before the restart", signature="Shop")
            await h.call("POST", "/v1/blacklist", {"number": number("cmpp", 2)})
            await h.call("POST", "/v1/whitelist", {"number": number("cmpp", 3)})
            await h.send(number("cmpp", 3), "vip", signature="Shop")
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            refused = await h.call("POST", "/v1/messages", {"to": N, "text": "after", "signature": "Shop"})
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "frequency_limited"
            blocked = await h.call("POST", "/v1/messages", {"to": number("cmpp", 2), "text": "x"})
            assert blocked.status_code == 403
            await h.send(number("cmpp", 3), "vip again", signature="Shop")  # still whitelisted


async def test_key_quota(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",),
                                     policy={**POLICY, "frequency_limits": False, "key_tps": 1}) as h:
            await h.send(number("cmpp", 1))
            refused = await h.call("POST", "/v1/messages", {"to": number("cmpp", 2), "text": "x"})
            assert refused.status_code == 429
            error = refused.json()["error"]
            assert error["code"] == "key_quota_exceeded" and error["retry_at"] >= time.time()
            other = h.new_key()
            assert (await h.call("POST", "/v1/messages", {"to": number("cmpp", 4), "text": "x"}, key=other)
                    ).status_code == 202  # quotas are per key
            await trio.sleep(float(refused.headers["retry-after"]))
            await h.send(number("cmpp", 2))


async def test_mo_unsubscribe_blacklists_for_the_last_signature(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY, db_url=db_url) as h:
            sent = await h.send(N, "sale today", signature="Shop")
            await h.wait_status(sent, {"delivered"})
            sim = h.sims["cmpp"]
            for part in sim.adapter.mo_messages("86" + N, "10690000", " td ", 1):
                h.inject_deliver("cmpp", part)
            with trio.fail_after(5):
                while not (items := (await h.call("GET", f"/v1/blacklist?number={N}")).json()["items"]):
                    await trio.sleep(0.02)
            assert [(i["signature"], i["source"]) for i in items] == [("Shop", "mo_unsubscribe")]
            assert (await h.call("GET", "/v1/mo")).json()["items"][0]["text"] == " td "
            refused = await h.call("POST", "/v1/messages", {"to": N, "text": "x", "signature": "Shop"})
            assert refused.json()["error"]["code"] == "blacklisted"
            await h.send(N, "from another brand", signature="Bank")
            # a number we never wrote to is unsubscribed from every signature; repeats change nothing
            stranger = number("cmpp", 9)
            for _ in range(2):
                for part in sim.adapter.mo_messages(stranger, "10690000", "退订", 2):
                    h.inject_deliver("cmpp", part)
            with trio.fail_after(5):
                while not (items := (await h.call("GET", f"/v1/blacklist?number={stranger}")).json()["items"]):
                    await trio.sleep(0.02)
            await trio.sleep(0.2)
            items = (await h.call("GET", f"/v1/blacklist?number={stranger}")).json()["items"]
            assert [(i["signature"], i["source"]) for i in items] == [(None, "mo_unsubscribe")]
            assert h.gateway.store.writer.stats.failed_requests == 0


async def test_csv_import_export_round_trip(tmp_path: Path, db_url: str | None) -> None:
    upload = ("number,signature,reason\n"
              f"{number('cmpp', 1)},,complained\n"
              f"+86{number('cmpp', 2)},Shop,\"said \"\"stop\"\", twice\"\n"
              f"{number('cmpp', 1)},,again\n"
              "12345,,\n"
              f"{number('cmpp', 3)},Shop\n"
              f"{number('cmpp', 4)},Bank,\"two\nlines\"\n")
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY, db_url=db_url) as h:
            response = await h.call("POST", "/v1/blacklist/import", raw=upload.encode())
            assert response.status_code == 200, response.text
            report = response.json()
            assert (report["added"], report["duplicate"], report["invalid"]) == (3, 1, 2)
            assert [(e["line"], e["field"]) for e in report["errors"]] == [(5, "number"), (6, "columns")]
            refused = await h.call("POST", "/v1/messages", {"to": number("cmpp", 2), "text": "x", "signature": "Shop"})
            assert refused.json()["error"]["code"] == "blacklisted"

            export = await h.call("GET", "/v1/blacklist/export")
            assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO(export.text)))
            assert rows == [["number", "signature", "reason"], [number("cmpp", 1), "", "complained"],
                            [number("cmpp", 2), "Shop", 'said "stop", twice'],
                            [number("cmpp", 4), "Bank", "two\nlines"]]
            again = (await h.call("POST", "/v1/blacklist/import", raw=export.content)).json()
            assert (again["added"], again["duplicate"], again["invalid"]) == (0, 3, 0)
            for n in (1, 2, 4):
                assert (await h.call("DELETE", f"/v1/blacklist/{number('cmpp', n)}")).status_code == 200
            assert (await h.call("GET", "/v1/blacklist")).json()["items"] == []
            restored = (await h.call("POST", "/v1/blacklist/import", raw=export.content)).json()
            assert restored["added"] == 3
            assert (await h.call("GET", "/v1/blacklist/export")).text == export.text
            bad = await h.call("POST", "/v1/blacklist/import", raw=b"phone\n13800138000\n")
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_csv"
            paths = (await h.client.get(h.base + "/openapi.json")).json()["paths"]
            assert {"/v1/blacklist", "/v1/blacklist/{number}", "/v1/blacklist/import", "/v1/blacklist/export",
                    "/v1/whitelist", "/v1/whitelist/{number}"} <= set(paths)


async def test_csv_import_past_its_size_is_refused_whole(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("smsgw.lists.MAX_IMPORT_ENTRIES", 2)
    upload = "number\n" + "".join(f"{number('cmpp', n)}\n" for n in range(1, 4))
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            refused = await h.call("POST", "/v1/blacklist/import", raw=upload.encode())
            assert refused.status_code == 413 and refused.json()["error"]["code"] == "import_too_large"
            assert "line 4" in refused.json()["error"]["message"]
            assert (await h.call("GET", "/v1/blacklist")).json()["items"] == []
            endless = await h.call("POST", "/v1/blacklist/import", raw=b"number\n" + b"1" * 100_000)
            assert endless.status_code == 400 and endless.json()["error"]["code"] == "invalid_csv"


async def test_an_entry_whose_commit_is_unanswered_still_blocks(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # the write may have landed: the number must stay blocked (as it is after a restart)
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            with next_commit_unanswered(monkeypatch):
                assert (await h.call("POST", "/v1/blacklist", {"number": N})).status_code >= 500
            refused = await h.call("POST", "/v1/messages", {"to": N, "text": "x", "signature": "Shop"})
            assert refused.status_code == 403, refused.text
            other = number("cmpp", 2)
            with next_commit_unanswered(monkeypatch):
                response = await h.call("POST", "/v1/blacklist/import", raw=f"number\n{other}\n".encode())
                assert response.status_code >= 500
            refused = await h.call("POST", "/v1/messages", {"to": other, "text": "x", "signature": "Shop"})
            assert refused.status_code == 403, refused.text


async def test_a_cancelled_batch_no_longer_counts_against_the_limits(tmp_path: Path) -> None:
    """A scheduled batch counts its rows at upload; cancelled before it starts, none of them went,
    so the numbers may get a message at once, also after a restart."""
    numbers = [number("cmpp", 40 + i) for i in range(3)]
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            created = await h.call("POST", "/v1/batches", {
                "text": "sale", "signature": "Shop", "send_at": time.time() + 3600,
                "recipients": [{"to": n} for n in numbers]})
            assert created.status_code == 202, created.text
            limited = await h.call("POST", "/v1/messages", {"to": numbers[0], "text": "x", "signature": "Shop"})
            assert limited.status_code == 429  # counted while the batch may still go
            batch_id = created.json()["id"]
            assert (await h.call("POST", f"/v1/batches/{batch_id}/cancel")).json()["state"] == "cancelled"
            await h.send(numbers[0], "code 1234", signature="Shop")
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            await h.send(numbers[1], "code 1234", signature="Shop")  # the restart replays no cancelled row
            refused = await h.call("POST", "/v1/messages", {"to": numbers[0], "text": "x", "signature": "Shop"})
            assert refused.status_code == 429  # the message sent after the cancel still counts


async def test_a_delete_and_a_re_add_at_once_leave_the_number_blocked(tmp_path: Path) -> None:
    """DELETE then POST of the same number without waiting: the database ends with the entry, and
    so must the gateway's memory (it refused nothing to a blacklisted number before)."""
    target = number("cmpp", 60)
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            assert (await h.call("POST", "/v1/blacklist", {"number": target})).status_code == 201
            async with trio.open_nursery() as nursery:
                nursery.start_soon(h.call, "DELETE", f"/v1/blacklist/{target}")
                await trio.sleep(0)
                nursery.start_soon(h.call, "POST", "/v1/blacklist", {"number": target})
            listed = (await h.call("GET", f"/v1/blacklist?number={target}")).json()["items"]
            sent = await h.call("POST", "/v1/messages", {"to": target, "text": "x", "signature": "Shop"})
            assert (len(listed), sent.status_code) in ((1, 403), (0, 202)), (listed, sent.text)


async def test_concurrent_requests_with_one_client_ref_count_once(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A client retries before the first answer came: the duplicate waits for the first request
    and gets its message, instead of being counted against the frequency limit again (a 429 at
    the limit, or another number's send refused for a slot the duplicate held)."""
    from smsgw.store.store import Store
    from smsgw.store.writer import Op

    real = Store.execute

    async def slow_execute(self: Store, ops: list[Op]) -> None:
        await trio.sleep(0.3)  # every request below arrives while the first is being stored
        await real(self, ops)

    policy = {**POLICY, "limits": {"notification": {"per_minute": 2, "per_hour": 5, "per_day": 10}}}
    at_limit, spare = number("cmpp", 60), number("cmpp", 61)
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=policy) as h:
            await h.send(at_limit, "first", signature="Shop")  # one slot of two left
            answers: dict[str, list[Any]] = {"twice": [], "again": [], "other": []}

            async def post(to: str, ref: str) -> None:
                body = {"to": to, "text": "x", "signature": "Shop", "client_ref": ref}
                answers[ref].append(await h.call("POST", "/v1/messages", body))

            monkeypatch.setattr(Store, "execute", slow_execute)
            async with trio.open_nursery() as nursery:
                for to, ref in ((at_limit, "twice"), (at_limit, "twice"), (spare, "again"), (spare, "again"),
                                (spare, "other")):
                    nursery.start_soon(post, to, ref)
            monkeypatch.setattr(Store, "execute", real)
            for ref, responses in answers.items():
                assert [r.status_code for r in responses] == [202] * len(responses), [r.text for r in responses]
                assert len({r.json()["id"] for r in responses}) == 1, ref
            assert (await message_count(h, at_limit), await message_count(h, spare)) == (2, 2)
            third = await h.call("POST", "/v1/messages", {"to": spare, "text": "x", "signature": "Shop"})
            assert third.status_code == 429
