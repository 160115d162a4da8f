"""Batch rows drafted by ``Loader.row``: the content checks run once per distinct content, with
the same drafts and refusals as ``Intake.draft`` row by row, and again after the rules change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from smsgw import queries as q
from smsgw.batches import Batches, BatchFields, Loader
from smsgw.channel import Channel
from smsgw.config import load
from smsgw.content import Signature, Template
from smsgw.dispatch import Dispatcher
from smsgw.http.errors import Refused
from smsgw.intake import Draft, Intake
from smsgw.keys import new_key
from smsgw.store import migrate
from smsgw.store.ids import IdGenerator
from smsgw.store.store import open_store
from smsgw.templating import parse
from tests.e2e.harness import closed_port, write_config

KEY = new_key("test")


@asynccontextmanager
async def batches(tmp_path: Path) -> AsyncIterator[Batches]:
    config = load(write_config(tmp_path, {"smpp": closed_port()}))
    migrate.upgrade(config.gateway.database)
    async with open_store(config.gateway.database) as store:
        yield Batches(Intake(Dispatcher(config, store, IdGenerator(0))))


def loader(service: Batches, **fields: str) -> Loader:
    return Loader(service, KEY, BatchFields.parse(fields, service.dispatcher.channels), status="accepted")


ROWS = [("13000000001", {}), ("+86 130-0000-0002", {"name": "Li"}), ("13000000001", {}), ("12345", {}),
        ("13000000003", {"name": "Wang"}), ("13000000004", {"name": "Li"}), ("13000000005", {"name": "x" * 2000}),
        ("13000000006", {"name": "y" * 200})]


@pytest.mark.parametrize("text", ["Hello {name}, your parcel is here", "Hello, your parcel is here"])
async def test_rows_draft_as_single_messages_would(tmp_path: Path, text: str) -> None:
    with trio.fail_after(10):
        async with batches(tmp_path) as service:
            rows = loader(service, text=text, signature="Acme")
            expected: list[Draft | str] = []
            for line, (to, params) in enumerate(ROWS, 1):
                rows.row(line, to, params)
                try:
                    expected.append(service.intake.draft(rows.fields.message_body(to, params), KEY))
                except Refused as exc:
                    expected.append(exc.code)
            rejected = {r["line"]: r["code"] for r in rows.rejects}
            assert rejected[3] == "duplicate" and expected[2] == service.intake.draft({"to": ROWS[2][0], "text": text,
                                                                                     "signature": "Acme"}, KEY)
            assert rejected[4] == expected[3] == "invalid_number"
            got = iter(rows.drafts)
            for line, want in enumerate(expected, 1):
                if line not in rejected:
                    assert next(got) == want
            ids = [op[1]["id"] for op in rows.message_ops]
            assert len(set(ids)) == len(ids) == len(rows.drafts)
            expected_ops = [op for draft, message_id in zip(rows.drafts, ids, strict=True)
                            for op in service.intake.ops(KEY.id, draft, message_id, rows.now, rows.id)]
            expected_ops = [op for op in expected_ops if op[0] is q.INSERT_MESSAGE] + [
                op for op in expected_ops if op[0] is not q.INSERT_MESSAGE]
            got_ops = rows.chunk_ops()[:len(expected_ops)]
            assert [(s, list(v.items())) for s, v in got_ops] == [(s, list(v.items())) for s, v in expected_ops]
            if "{name}" in text:
                assert rejected[7] == "text_too_long" and rows.drafts[-1].segments > 1
            assert len(rows.models) == (4 if "{name}" in text else 2)  # none without params; no refused content


async def test_a_template_batch_renders_each_rows_params(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with batches(tmp_path) as service:
            service.intake.content.put_template(Template("7", KEY.id, "notification", parse("Code {code} ok"),
                                                         "approved"))
            rows = loader(service, template_id="7", signature="Acme")
            for line, code in enumerate(["1", "2", "1"], 1):
                rows.row(line, f"1300000000{line}", {"code": code})
            rows.row(4, "13000000004", {"cod": "1"})
            assert [d.text for d in rows.drafts] == ["【Acme】Code 1 ok", "【Acme】Code 2 ok", "【Acme】Code 1 ok"]
            assert [(r["line"], r["code"]) for r in rows.rejects] == [(4, "missing_param")]


async def test_a_change_of_the_content_rules_applies_to_the_next_row(tmp_path: Path) -> None:
    """An upload's rows arrive over time: a signature rejected meanwhile refuses the next row."""
    with trio.fail_after(10):
        async with batches(tmp_path) as service:
            rows = loader(service, text="Hello", signature="Acme")
            rows.row(1, "13000000001", {})
            service.intake.content.put_signature(Signature("1", KEY.id, "Acme", "rejected"))
            with pytest.raises(Refused) as refused:
                rows.row(2, "13000000002", {})
            assert refused.value.code == "signature_not_approved"
            service.intake.content.drop_signature("1")
            rows.row(3, "13000000003", {})
            assert [d.to for d in rows.drafts] == ["13000000001", "13000000003"]


async def test_routes_are_chosen_again_once_the_caller_clears_its_choices(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two channels serve 130: the first with a bound session takes a row. A caller reuses its
    choices until it awaits (no session binds meanwhile), then chooses afresh."""
    config = load(write_config(tmp_path, {"smpp": closed_port(), "cmpp": closed_port()}, cmpp={"prefixes": ["130"]}))
    migrate.upgrade(config.gateway.database)
    bound = {"smpp-sim": False, "cmpp-sim": True}
    monkeypatch.setattr(Channel, "bound_sessions", property(lambda self: int(bound[self.config.name])))
    with trio.fail_after(10):
        async with open_store(config.gateway.database) as store:
            rows = loader(Batches(Intake(Dispatcher(config, store, IdGenerator(0)))), text="Hello")
            routes: dict[tuple[str, ...], str] = {}
            rows.row(1, "13000000001", {}, routes)
            bound["smpp-sim"] = True
            rows.row(2, "13000000002", {}, routes)
            routes.clear()
            rows.row(3, "13000000003", {}, routes)
            assert [d.channel for d in rows.drafts] == ["cmpp-sim", "cmpp-sim", "smpp-sim"]
