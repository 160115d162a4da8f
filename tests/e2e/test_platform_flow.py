"""The newcomer's walk through the platform (issue 5 "done means"), with the default policy
(content review and frequency limits on), through the HTTP API only: register a signature and a
template, have them approved, upload a CSV of numbers by template, watch the progress, and
download the delivered, failed and rejected numbers with their reasons; the black- and
whitelist and the frequency limit refuse the rows they should, and nothing refused is sent."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import trio

from smsgw.http.auth import sign

from .harness import Harness, gateway_with_sims, number
from .test_batches import BOUNDARY, csv_bytes, multipart, wait_state

TEMPLATE = "尊敬的{name}，您的订单{order}已发货。"


async def _upload(h: Harness, key: tuple[str, str], fields: dict[str, str], data: bytes) -> Any:
    body = multipart(fields, data)
    headers = sign(key[1], "POST", "/v1/batches", body, key_id=key[0])
    headers["content-type"] = f"multipart/form-data; boundary={BOUNDARY}"
    response = await h.client.post(h.base + "/v1/batches", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


async def _export(h: Harness, key: tuple[str, str], batch_id: str, status: str) -> list[dict[str, str]]:
    response = await h.call("GET", f"/v1/batches/{batch_id}/recipients?status={status}", key=key)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_signature_template_csv_batch_lists_limits_and_exports(tmp_path: Path) -> None:
    record = tmp_path / "cmpp.jsonl"
    options = {"cmpp": {"record": str(record), "dlr_outcomes": (("DELIVRD", 0.75), ("MK:0001", 0.25))}}
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy={}, sim_options=options) as h:
            user = h.new_key()
            # a signature and a template, pending until the admin (the harness key) approves them
            sig = await h.call("POST", "/v1/signatures", {"name": "好物商城", "company": "好物商城有限公司",
                                                          "licence": "91310000MA1K000001", "purpose": "发货通知"},
                               key=user)
            tpl = await h.call("POST", "/v1/templates", {"name": "shipped", "kind": "notification",
                                                         "content": TEMPLATE}, key=user)
            assert sig.status_code == tpl.status_code == 201 and tpl.json()["params"] == ["name", "order"]
            fields = {"template_id": tpl.json()["id"], "signature": "好物商城"}
            refused = await h.call("POST", "/v1/messages", {"to": number("cmpp", 1), **fields,
                                                            "params": {"name": "a", "order": "1"}}, key=user)
            assert refused.json()["error"]["code"] == "template_not_approved"
            assert (await h.call("POST", f"/v1/templates/{tpl.json()['id']}/approve", key=user)).status_code == 403
            for path in (f"/v1/signatures/{sig.json()['id']}", f"/v1/templates/{tpl.json()['id']}"):
                assert (await h.call("POST", path + "/approve")).json()["status"] == "approved"

            # the lists: one number blocked, one whitelisted (sent to twice: exempt), one sent to just now
            blocked, vip, recent = number("cmpp", 90), number("cmpp", 91), number("cmpp", 92)
            assert (await h.call("POST", "/v1/blacklist", {"number": blocked, "reason": "complained"})
                    ).status_code == 201
            assert (await h.call("POST", "/v1/whitelist", {"number": vip, "reason": "QA phone"})).status_code == 201
            for to in (vip, recent):
                sent = await h.call("POST", "/v1/messages", {"to": to, **fields,
                                                             "params": {"name": "王", "order": "A1"}}, key=user)
                assert sent.status_code == 202, sent.text
            again = await h.call("POST", "/v1/messages", {"to": recent, **fields,
                                                          "params": {"name": "王", "order": "A2"}}, key=user)
            assert again.status_code == 429 and again.json()["error"]["code"] == "frequency_limited"
            assert again.json()["error"]["retry_at"] > 0

            good = [number("cmpp", i) for i in range(40)]
            rows = [["to", "name", "order"], *([to, f"客户{i}", f"SO{i:04d}"] for i, to in enumerate(good)),
                    [blocked, "黑", "X1"], [vip, "贵宾", "X2"], [recent, "近", "X3"], [good[0], "重", "X4"],
                    ["12345", "错", "X5"], [number("cmpp", 93), "换\n行", "X6"]]
            created = await _upload(h, user, fields, csv_bytes(rows))
            assert (created["total"], created["accepted"], created["rejected"]) == (46, 41, 5)
            progress = await wait_state(h, created["id"], {"done"}, timeout=40)
            assert progress["delivered"] + progress["failed"] == 41 and progress["pending"] == 0
            assert progress["failed"] > 0  # a quarter of the receipts say MK:0001

            rejected = {r["to"]: r["error"] for r in await _export(h, user, created["id"], "rejected")}
            assert rejected == {blocked: "blacklisted", recent: "frequency_limited", good[0]: "duplicate",
                                "12345": "invalid_number", number("cmpp", 93): "invalid_param"}
            failed = await _export(h, user, created["id"], "failed")
            delivered = await _export(h, user, created["id"], "delivered")
            assert len(failed) == progress["failed"] and len(delivered) == progress["delivered"]
            assert {r["error"] for r in failed} == {"MK:0001"} and all(r["reason"] for r in failed)
            assert {r["to"] for r in failed + delivered} == {*good, vip}

            # what the operator received: the placed signature, the rendered text, nothing refused
            h.sims["cmpp"].recorder.flush()
            sent = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
            texts = {dest: line["text"] for line in sent for dest in line["dests"]}
            assert texts[good[7]] == "【好物商城】尊敬的客户7，您的订单SO0007已发货。"
            assert blocked not in texts and number("cmpp", 93) not in texts and "12345" not in texts
