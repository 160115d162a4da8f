"""Signatures (签名) and templates (模板) through the HTTP API against the simulators: the approval
flow, every refusal code of the content rules, the signature placed as each channel says (seen in
the simulator's --record file), approvals surviving a restart, and the rules with review off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from sqlalchemy import select

from smsgw.store.schema import messages

from .harness import Harness, gateway_with_sims, number
from .store_faults import next_commit_unanswered

REVIEW = {"content_review": True, "frequency_limits": False}
CODE_TEMPLATE = "您的验证码是{code}，5分钟内有效。"
NOTICE_TEMPLATE = "尊敬的{name}，您的订单{order}已发货。"


async def _register(h: Harness, key: tuple[str, str], *, approve: bool = True,
                    signature: str = "测试科技") -> tuple[str, str, str]:
    """A signature, a verification and a notification template of ``key``; approved by the admin."""
    created = await h.call("POST", "/v1/signatures", {"name": signature, "company": "测试科技有限公司",
                                                      "licence": "91310000MA1K000000", "purpose": "验证码与订单通知"},
                           key=key)
    assert created.status_code == 201 and created.json()["status"] == "pending", created.text
    ids = [created.json()["id"]]
    for name, kind, content in (("code", "verification", CODE_TEMPLATE), ("shipped", "notification", NOTICE_TEMPLATE)):
        response = await h.call("POST", "/v1/templates", {"name": name, "kind": kind, "content": content}, key=key)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    if approve:
        for path in (f"/v1/signatures/{ids[0]}", f"/v1/templates/{ids[1]}", f"/v1/templates/{ids[2]}"):
            response = await h.call("POST", path + "/approve")
            assert response.status_code == 200 and response.json()["status"] == "approved", response.text
    return ids[0], ids[1], ids[2]


async def _refused(h: Harness, body: dict[str, Any], status: int, code: str, field: str | None = None, *,
                   key: tuple[str, str] | None = None) -> None:
    response = await h.call("POST", "/v1/messages", body, key=key)
    assert response.status_code == status, (body, response.text)
    error = response.json()["error"]
    assert error["code"] == code, (body, response.text)
    if field is not None:
        assert error["field"] == field, (body, response.text)


def _recorded(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


async def test_approval_flow_and_placement_seen_by_the_operator(tmp_path: Path) -> None:
    record = tmp_path / "cmpp.jsonl"
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW,
                                     sim_options={"cmpp": {"record": str(record)}}) as h:
            user = h.new_key()
            sig_id, code_id, _ = await _register(h, user, approve=False)
            to = number("cmpp", 1)
            by_template = {"to": to, "template_id": code_id, "params": {"code": "123456"}, "signature": "测试科技"}
            await _refused(h, by_template, 403, "template_not_approved", "template_id", key=user)
            # only an admin decides
            for path in (f"/v1/templates/{code_id}/approve", f"/v1/signatures/{sig_id}/approve"):
                response = await h.call("POST", path, key=user)
                assert response.status_code == 403 and response.json()["error"]["code"] == "admin_required"
            assert (await h.call("POST", f"/v1/templates/{code_id}/approve")).status_code == 200
            await _refused(h, by_template, 403, "signature_not_approved", "signature", key=user)
            approved = await h.call("POST", f"/v1/signatures/{sig_id}/approve")
            assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == h.key

            response = await h.call("POST", "/v1/messages", by_template, key=user)
            assert response.status_code == 202, response.text
            first = response.json()["id"]
            # raw text matching the template, with and without the signature in it
            raw = {"to": to, "text": "您的验证码是654321，5分钟内有效。", "signature": "测试科技"}
            second = (await h.call("POST", "/v1/messages", raw, key=user)).json()["id"]
            embedded = {"to": to, "text": "【测试科技】您的验证码是777777，5分钟内有效。"}
            third = (await h.call("POST", "/v1/messages", embedded, key=user)).json()["id"]
            for message_id in (first, second, third):
                await h.wait_status(message_id, {"delivered"}, timeout=10)
            stored = h.read_db(lambda conn: conn.execute(
                select(messages.c.id, messages.c.template_id, messages.c.signature).order_by(messages.c.id)).all())
            assert [(r.template_id, r.signature) for r in stored] == [(code_id, "测试科技")] * 3

            # the owner sees its own; another key sees nothing of it; the admin sees all
            mine = (await h.call("GET", "/v1/templates?status=approved", key=user)).json()["items"]
            assert [t["id"] for t in mine] == [code_id] and mine[0]["params"] == ["code"]
            other = h.new_key()
            assert (await h.call("GET", "/v1/signatures", key=other)).json()["items"] == []
            assert (await h.call("GET", f"/v1/signatures/{sig_id}", key=other)).status_code == 404
            shown = (await h.call("GET", f"/v1/signatures/{sig_id}")).json()
            assert shown["company"] == "测试科技有限公司" and shown["licence"] == "91310000MA1K000000"

            # rejecting revokes at once, and the reason is shown
            assert (await h.call("POST", f"/v1/templates/{code_id}/reject", {})).json()["error"]["code"] \
                == "missing_reason"
            rejected = await h.call("POST", f"/v1/templates/{code_id}/reject", {"reason": "验证码模板须注明用途"})
            assert rejected.json()["status"] == "rejected"
            shown = (await h.call("GET", f"/v1/templates/{code_id}", key=user)).json()
            assert shown["reason"] == "验证码模板须注明用途"
            await _refused(h, by_template, 403, "template_not_approved", key=user)
            await _refused(h, raw, 403, "content_not_approved", "text", key=user)
    codes = ("123456", "654321", "777777")
    assert _recorded(record) == [f"【测试科技】您的验证码是{code}，5分钟内有效。" for code in codes]


async def test_every_refusal_has_its_code_and_nothing_is_stored(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW) as h:
            user = h.new_key()
            _, code_id, notice_id = await _register(h, user)
            other = h.new_key()
            _, other_code, _ = await _register(h, other, signature="别家科技")
            template_only = h.new_key(allow_text=False)
            await _register(h, template_only, signature="模板科技")
            to = number("cmpp", 1)
            code = {"to": to, "template_id": code_id, "signature": "测试科技"}
            notice = {"to": to, "template_id": notice_id, "signature": "测试科技"}
            cases: list[tuple[dict[str, Any], int, str, str | None, tuple[str, str]]] = [
                ({**code, "params": {"code": "1"}, "signature": None}, 400, "missing_signature", "signature", user),
                ({**code, "params": {"code": "1"}, "signature": "别家科技"}, 400, "unknown_signature", "signature",
                 user),
                ({**code, "params": {"code": "1"}, "signature": 7}, 400, "invalid_signature", "signature", user),
                ({**code, "template_id": other_code, "params": {"code": "1"}}, 400, "unknown_template", "template_id",
                 user),
                ({**code, "template_id": "999", "params": {"code": "1"}}, 400, "unknown_template", "template_id", user),
                ({**code, "params": {}}, 400, "missing_param", "params.code", user),
                ({**code, "params": {"code": "1", "x": "2"}}, 400, "unexpected_param", "params.x", user),
                ({**code, "params": ["1"]}, 400, "invalid_params", "params", user),
                ({**code, "params": {"code": "1" * 21}}, 400, "invalid_param", "params.code", user),
                ({**code, "params": {"code": ""}}, 400, "invalid_param", "params.code", user),
                ({**code, "params": {"code": "12\n34"}}, 400, "invalid_param", "params.code", user),
                ({**code, "params": {"code": "【假】1234"}}, 400, "invalid_param", "params.code", user),
                ({**code, "params": {"code": "http://x.cn"}}, 400, "invalid_param", "params.code", user),
                ({**code, "params": {"code": "a.com/1"}}, 400, "invalid_param", "params.code", user),
                ({**notice, "params": {"name": "李先生", "order": ["x"]}}, 400, "invalid_param", "params.order",
                 user),
                ({**code, "params": {"code": "1"}, "text": "x"}, 400, "conflicting_content", "template_id", user),
                ({"to": to, "text": "您的验证码是1，5分钟内有效。", "signature": "模板科技"}, 403, "text_not_allowed",
                 "text", template_only),
                ({"to": to, "text": "中奖了！请点击领取", "signature": "测试科技"}, 403, "content_not_approved", "text",
                 user),
                ({"to": to, "text": "您的验证码是1，5分钟内有效。再见", "signature": "测试科技"}, 403,
                 "content_not_approved", "text", user),
                ({"to": to, "text": "您的验证码是http://a.cn，5分钟内有效。", "signature": "测试科技"}, 403,
                 "content_not_approved", "text", user),
                ({"to": to, "text": "【别家科技】您的验证码是1，5分钟内有效。", "signature": "测试科技"}, 400,
                 "signature_mismatch", "signature", user),
                ({"to": to, "text": "【测试科技】"}, 400, "missing_text", "text", user),
                ({"to": to, "text": "您的验证码是1，5分钟内有效。"}, 400, "missing_signature", "signature", user),
            ]
            for body, status, error, field, key in cases:
                await _refused(h, {k: v for k, v in body.items() if v is not None}, status, error, field, key=key)
            # a URL in a notification value is fine; the template-only key can send by template
            ok = await h.call("POST", "/v1/messages", {**notice, "params": {"name": "李先生", "order": "a.cn/9"}},
                              key=user)
            assert ok.status_code == 202, ok.text
            stored = h.read_db(lambda conn: conn.execute(select(messages.c.text)).scalars().all())
            assert stored == ["【测试科技】尊敬的李先生，您的订单a.cn/9已发货。"]
            # a batch by template: each row's params are checked, refused rows are counted
            recipients = [{"to": number("cmpp", i), "params": params}
                          for i, params in ((2, {"code": "1111"}), (3, {}), (4, {"code": "http://x.cn"}))]
            batch = await h.call("POST", "/v1/batches", {"template_id": code_id, "signature": "测试科技",
                                                         "recipients": recipients}, key=user)
            assert batch.status_code == 202 and (batch.json()["accepted"], batch.json()["rejected"]) == (1, 2)

            # registering: bad names, malformed templates, duplicates
            for body, error, field in (
                ({"name": "X"}, "invalid_signature", "name"),
                ({"name": "【测试】"}, "invalid_signature", "name"),
                ({"name": "测试" * 11}, "invalid_signature", "name"),
                ({"name": "测试科技"}, "signature_exists", "name"),
                ({"name": "新科技", "licence": 5}, "invalid_field", "licence"),
            ):
                response = await h.call("POST", "/v1/signatures", body, key=user)
                assert response.status_code in (400, 409) and response.json()["error"] == {
                    **response.json()["error"], "code": error, "field": field}, (body, response.text)
            malformed = ("验证码{code", "验证码code}", "验证码{}", "验证码{1x}", "{a}{b}", "【签名】验证码{code}", "")
            for content in malformed:
                response = await h.call("POST", "/v1/templates", {"name": "t", "kind": "verification",
                                                                  "content": content}, key=user)
                assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_template", content
            response = await h.call("POST", "/v1/templates", {"name": "t", "kind": "spam", "content": "x{a}"}, key=user)
            assert response.json()["error"]["code"] == "invalid_kind"


async def test_placement_per_channel(tmp_path: Path) -> None:
    records = {proto: tmp_path / f"{proto}.jsonl" for proto in ("smpp", "cmpp", "smgp")}
    with trio.fail_after(30):
        async with gateway_with_sims(
            tmp_path, policy=REVIEW, sim_options={p: {"record": str(path)} for p, path in records.items()},
            channel_options={"smgp": {"signature_placement": "suffix"}, "smpp": {"signature_placement": "none"}},
        ) as h:
            _, _, notice_id = await _register(h, (h.key, h.secret))
            ids = []
            for proto in records:
                response = await h.call("POST", "/v1/messages", {
                    "to": number(proto, 1), "template_id": notice_id, "signature": "测试科技",
                    "params": {"name": "王女士", "order": "A1001"}})
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            await h.wait_final(ids)
    body = "尊敬的王女士，您的订单A1001已发货。"
    assert _recorded(records["cmpp"]) == ["【测试科技】" + body]
    assert _recorded(records["smgp"]) == [body + "【测试科技】"]
    assert _recorded(records["smpp"]) == [body]


async def test_approvals_survive_a_restart(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW, db_url=db_url) as h:
            user = h.new_key()
            _, code_id, notice_id = await _register(h, user)
            await h.call("POST", f"/v1/templates/{notice_id}/reject", {"reason": "no"})
            duplicate = await h.call("POST", "/v1/signatures", {"name": "测试科技"}, key=user)
            assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "signature_exists"
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW, db_url=db_url) as h:
            response = await h.call("POST", "/v1/messages", {"to": number("cmpp", 1), "template_id": code_id,
                                                             "params": {"code": "4321"}, "signature": "测试科技"},
                                    key=user)
            assert response.status_code == 202, response.text
            await _refused(h, {"to": number("cmpp", 1), "template_id": notice_id, "signature": "测试科技",
                               "params": {"name": "a", "order": "b"}}, 403, "template_not_approved", key=user)
            await h.wait_status(response.json()["id"], {"delivered"})


async def test_review_off_passes_text_and_signatures_but_keeps_template_rules(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",),
                                     policy={"content_review": False, "frequency_limits": False}) as h:
            user = h.new_key()
            _, code_id, _ = await _register(h, user, approve=False)  # pending: usable with review off
            to = number("cmpp", 1)
            assert (await h.call("POST", "/v1/messages", {"to": to, "text": "任意内容"}, key=user)).status_code == 202
            signed = await h.call("POST", "/v1/messages", {"to": to, "text": "任意内容", "signature": "测试科技"},
                                  key=user)
            assert signed.status_code == 202, signed.text
            templated = await h.call("POST", "/v1/messages", {"to": to, "template_id": code_id,
                                                              "params": {"code": "99"}}, key=user)
            assert templated.status_code == 202, templated.text
            # an unregistered signature is placed as given (reviewed elsewhere), once well-formed
            unregistered = await h.call("POST", "/v1/messages", {"to": to, "text": "x", "signature": "外部签名"},
                                        key=user)
            assert unregistered.status_code == 202, unregistered.text
            await _refused(h, {"to": to, "text": "x", "signature": "没"}, 400, "invalid_signature", key=user)
            await _refused(h, {"to": to, "template_id": code_id, "params": {}}, 400, "missing_param", key=user)
            await _refused(h, {"to": to, "text": "x"}, 403, "text_not_allowed", key=h.new_key(allow_text=False))
            texts = h.read_db(lambda conn: conn.execute(
                select(messages.c.text, messages.c.signature, messages.c.template_id).order_by(messages.c.id)).all())
            assert [tuple(r) for r in texts] == [("任意内容", None, None), ("【测试科技】任意内容", "测试科技", None),
                                                 ("您的验证码是99，5分钟内有效。", None, code_id),
                                                 ("【外部签名】x", "外部签名", None)]


async def test_routes_are_in_openapi_and_deletes_restore_registration(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW) as h:
            paths = (await h.client.get(h.base + "/openapi.json")).json()["paths"]
            for path in ("/v1/signatures", "/v1/signatures/{id}", "/v1/signatures/{id}/approve",
                         "/v1/signatures/{id}/reject", "/v1/templates", "/v1/templates/{id}",
                         "/v1/templates/{id}/approve", "/v1/templates/{id}/reject"):
                assert path in paths, path
            user = h.new_key()
            sig_id, code_id, _ = await _register(h, user)
            assert (await h.call("DELETE", f"/v1/signatures/{sig_id}", key=h.new_key())).status_code == 404
            assert (await h.call("DELETE", f"/v1/signatures/{sig_id}", key=user)).json()["status"] == "deleted"
            await _refused(h, {"to": number("cmpp", 1), "template_id": code_id, "params": {"code": "1"},
                               "signature": "测试科技"}, 400, "unknown_signature", key=user)
            again = await h.call("POST", "/v1/signatures", {"name": "测试科技"}, key=user)
            assert again.status_code == 201 and again.json()["status"] == "pending"
            assert (await h.call("DELETE", f"/v1/templates/{code_id}", key=user)).status_code == 200
            assert (await h.call("GET", f"/v1/templates/{code_id}", key=user)).status_code == 404
            pending = (await h.call("GET", "/v1/signatures?status=pending")).json()["items"]
            assert [s["name"] for s in pending] == ["测试科技"] and pending[0]["company"] is None
            assert (await h.call("GET", "/v1/templates?status=nope")).json()["error"]["code"] == "invalid_status"


async def test_a_decision_whose_commit_is_unanswered_applies_as_the_database_has_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW) as h:
            user = h.new_key()
            sig_id, code_id, notice_id = await _register(h, user)
            to = number("cmpp", 1)
            by_code = {"to": to, "template_id": code_id, "params": {"code": "1234"}, "signature": "测试科技"}
            with next_commit_unanswered(monkeypatch):
                response = await h.call("POST", f"/v1/templates/{code_id}/reject", {"reason": "no"})
                assert response.status_code >= 500
            await _refused(h, by_code, 403, "template_not_approved", "template_id", key=user)
            with next_commit_unanswered(monkeypatch):
                assert (await h.call("DELETE", f"/v1/signatures/{sig_id}", key=user)).status_code >= 500
            by_notice = {"to": to, "template_id": notice_id, "params": {"name": "李", "order": "1"},
                         "signature": "测试科技"}
            await _refused(h, by_notice, 400, "unknown_signature", "signature", key=user)


async def test_concurrent_decisions_leave_the_rules_as_the_database_has_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An approval whose read-back is slow and a rejection made meanwhile: the rules end with the
    rejection the database has, not the approval read before it."""
    from smsgw import api_content
    from smsgw.store.store import Store

    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW) as h:
            user = h.new_key()
            _, code_id, _ = await _register(h, user, approve=False)
            await h.call("POST", f"/v1/signatures/{(await h.call('GET', '/v1/signatures')).json()['items'][0]['id']}"
                                 "/approve")
            read = Store.read
            reads = 0

            async def slow_approval_read_back(self: Store, fn: Any, *args: Any) -> Any:
                nonlocal reads
                result = await read(self, fn, *args)
                if fn is api_content._read_one and args[0] is api_content.templates:
                    reads += 1
                    if reads == 2:  # the approval's read-back: hold it while the rejection runs
                        await trio.sleep(0.5)
                return result

            monkeypatch.setattr(Store, "read", slow_approval_read_back)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(h.call, "POST", f"/v1/templates/{code_id}/approve")
                await trio.sleep(0.1)
                nursery.start_soon(h.call, "POST", f"/v1/templates/{code_id}/reject", {"reason": "no"})
            monkeypatch.setattr(Store, "read", read)
            stored = (await h.call("GET", f"/v1/templates/{code_id}")).json()["status"]
            assert stored == "rejected"
            by_code = {"to": number("cmpp", 1), "template_id": code_id, "params": {"code": "1234"},
                       "signature": "测试科技"}
            await _refused(h, by_code, 403, "template_not_approved", "template_id", key=user)


async def test_a_retry_gets_its_message_even_after_the_template_was_rejected(tmp_path: Path) -> None:
    """The first request was stored but its 202 was lost; the template is rejected meanwhile: the
    retry (same client_ref) gets the stored message, not template_not_approved."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW) as h:
            user = h.new_key()
            _, code_id, _ = await _register(h, user)
            body = {"to": number("cmpp", 1), "template_id": code_id, "params": {"code": "1234"},
                    "signature": "测试科技", "client_ref": "otp-1"}
            first = await h.call("POST", "/v1/messages", body, key=user)
            assert first.status_code == 202, first.text
            assert (await h.call("POST", f"/v1/templates/{code_id}/reject", {"reason": "no"})).status_code == 200
            retried = await h.call("POST", "/v1/messages", body, key=user)
            assert retried.status_code == 202 and retried.json()["id"] == first.json()["id"], retried.text
            await _refused(h, {**body, "client_ref": "otp-2"}, 403, "template_not_approved", key=user)
