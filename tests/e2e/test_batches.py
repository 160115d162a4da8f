"""Batch jobs through the HTTP API against the simulators: CSV uploads streamed as multipart,
rejected rows, pause/resume/cancel, scheduled start, history and the recipients export."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from click.testing import CliRunner
from sqlalchemy import func, select

from smsgw import batches as batches_module
from smsgw.cli import main
from smsgw.http.auth import sign
from smsgw.store.schema import batch_rejects, batches, messages

from .harness import Harness, gateway_with_sims, number

NO_POLICY = {"content_review": False, "frequency_limits": False}
BOUNDARY = "----smsgwBatchTest9f2c"


def multipart(fields: dict[str, str], csv_data: bytes, *, after: dict[str, str] | None = None) -> bytes:
    """The fields, the file, then the ``after`` fields (which the server refuses)."""
    parts: list[tuple[str, str | None, bytes]] = [(name, None, value.encode()) for name, value in fields.items()]
    parts.append(("file", "recipients.csv", csv_data))
    parts += [(name, None, value.encode()) for name, value in (after or {}).items()]
    out = bytearray()
    for name, filename, data in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: text/csv\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def upload(h: Harness, fields: dict[str, str], csv_data: bytes, *, after: dict[str, str] | None = None,
                 bad_signature: bool = False, key: tuple[str, str] | None = None) -> httpx.Response:
    """POST /v1/batches as multipart, streamed in chunks (Transfer-Encoding: chunked)."""
    body = multipart(fields, csv_data, after=after)
    key_id, secret = key or (h.key, h.secret)
    headers = sign(secret, "POST", "/v1/batches", body + (b"x" if bad_signature else b""), key_id=key_id)
    headers["content-type"] = f"multipart/form-data; boundary={BOUNDARY}"
    return await h.client.post(h.base + "/v1/batches", content=_chunks(body), headers=headers)


async def test_an_upload_trickling_past_the_upload_timeout_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    """``[http] upload_timeout`` bounds a streamed upload however steadily it trickles: 408
    ``upload_timeout``, and the rows written so far (a chunk of 1,000 at a time) are discarded."""

    async def trickle(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), len(data) // 8 + 1):  # over ~1.6 s, in the 2 s the server lingers
            yield data[start:start + len(data) // 8 + 1]
            await trio.sleep(0.2)

    body = multipart({"text": "slow"}, csv_bytes([["to"], *([number("smpp", i)] for i in range(4000))]))
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), policy=NO_POLICY,
                                     http={"upload_timeout": 1}) as h:
            headers = sign(h.secret, "POST", "/v1/batches", body, key_id=h.key)
            headers["content-type"] = f"multipart/form-data; boundary={BOUNDARY}"
            started = time.monotonic()
            response = await h.client.post(h.base + "/v1/batches", content=trickle(body), headers=headers)
            assert response.status_code == 408, response.text
            assert response.json()["error"]["code"] == "upload_timeout"
            assert time.monotonic() - started < 5
            assert await h.gateway.store.read(lambda conn: [conn.execute(select(func.count()).select_from(table))
                                                            .scalar_one() for table in (batches, messages)]) == [0, 0]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


async def wait_state(h: Harness, batch_id: str, states: set[str], timeout: float = 20) -> dict[str, Any]:
    with trio.fail_after(timeout):
        while True:
            progress = (await h.call("GET", f"/v1/batches/{batch_id}")).json()
            if progress["state"] in states:
                return progress  # type: ignore[no-any-return]
            await trio.sleep(0.05)


async def export(h: Harness, batch_id: str, status: str | None) -> list[dict[str, str]]:
    path = f"/v1/batches/{batch_id}/recipients" + (f"?status={status}" if status else "")
    response = await h.call("GET", path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert response.text.startswith("to,status,error,message_id,reason\r\n")
    return rows


async def test_csv_upload_personalises_counts_rejects_and_exports(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(40):
        async with gateway_with_sims(tmp_path, protocols=("smpp", "cmpp"), policy=NO_POLICY, db_url=db_url) as h:
            rows = [["to", "name"]]
            rows += [[number("smpp", i), f"客户{i}"] for i in range(30)]
            rows += [[number("cmpp", i), f"用户{i}"] for i in range(30)]
            rows += [["12345", "bad"], [number("smpp", 3), "again"], ["", "empty"], [number("smpp", 99)]]
            response = await upload(h, {"text": "{name}，您好：账单已出。"}, csv_bytes(rows))
            assert response.status_code == 202, response.text
            created = response.json()
            assert (created["total"], created["accepted"], created["rejected"]) == (64, 60, 4)
            progress = await wait_state(h, created["id"], {"done"})
            assert {k: progress[k] for k in ("total", "accepted", "rejected", "submitted", "delivered", "failed",
                                             "pending")} == {"total": 64, "accepted": 60, "rejected": 4,
                                                             "submitted": 60, "delivered": 60, "failed": 0,
                                                             "pending": 0}
            rejected = await export(h, created["id"], "rejected")
            assert [(r["to"], r["error"]) for r in rejected] == [
                ("12345", "invalid_number"), (number("smpp", 3), "duplicate"), ("", "invalid_number"),
                (number("smpp", 99), "malformed_row")]
            assert rejected[0]["reason"].startswith("row 62: ")  # the header is row 1
            delivered = await export(h, created["id"], "delivered")
            assert len(delivered) == 60 and {r["status"] for r in delivered} == {"delivered"}
            texts = await h.gateway.store.read(lambda conn: {r.to_number: r.text for r in conn.execute(
                select(messages.c.to_number, messages.c.text).where(messages.c.batch_id == int(created["id"])))})
            assert texts[number("cmpp", 7)] == "用户7，您好：账单已出。"
            assert await export(h, created["id"], "pending") == []
            # history: by content, by state, by time
            listed = (await h.call("GET", "/v1/batches?q=%E8%B4%A6%E5%8D%95&state=done")).json()
            assert [item["id"] for item in listed["items"]] == [created["id"]]
            none = (await h.call("GET", f"/v1/batches?from={time.time() + 60:.0f}")).json()
            assert none["items"] == []
            # another key sees nothing of it
            other = h.new_key()
            assert (await h.call("GET", f"/v1/batches/{created['id']}", key=other)).status_code == 404
            assert (await h.call("GET", "/v1/batches", key=other)).json()["items"] == []


async def test_gbk_csv_and_refused_uploads(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=NO_POLICY) as h:
            data = csv_bytes([["to", "name"], [number("cmpp", 1), "张三"]], "gbk")
            response = await upload(h, {"text": "{name}您好"}, data)
            assert response.status_code == 202, response.text
            created = response.json()
            await wait_state(h, created["id"], {"done"})
            text = await h.gateway.store.read(lambda conn: conn.execute(
                select(messages.c.text).where(messages.c.batch_id == int(created["id"]))).scalar_one())
            assert text == "张三您好"

            def counts(conn: Any) -> tuple[int, int, int]:
                return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                             for t in (batches, messages, batch_rejects))

            before = await h.gateway.store.read(counts)
            big = csv_bytes([["to"], *[[number("cmpp", i)] for i in range(3000)], ["bad"]])
            refused = await upload(h, {"text": "hi"}, big, bad_signature=True)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "bad_signature"
            late = await upload(h, {"text": "hi"}, big, after={"signature": "x"})
            assert late.status_code == 400 and late.json()["error"]["code"] == "field_after_file"
            first = await upload(h, {}, big, after={"text": "hi"})
            assert first.json()["error"]["code"] == "missing_content"
            assert "before the \"file\" part" in first.json()["error"]["message"]
            no_to = await upload(h, {"text": "hi"}, b"phone\n13800000001\n")
            assert no_to.json()["error"]["code"] == "missing_to_column"
            assert await h.gateway.store.read(counts) == before  # nothing of the refused uploads is left
            assert h.gateway.dispatcher.held_batches == set()


async def test_a_refused_batch_wide_field_fails_the_whole_upload_and_leaves_nothing(
        tmp_path: Path, db_url: str | None) -> None:
    """Default policy (content review, frequency limits). A template or signature that every row
    would be refused for fails the upload (CSV or JSON) with that refusal's status and code, and
    leaves no batch, message, reject, hold or frequency count behind. The CSV is well over the
    server's 64 KiB drain limit: the answer comes after the whole body (signature checked)."""
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy={}, db_url=db_url) as h:
            user = h.new_key()
            ids = {}
            for name in ("好物商城", "待审商城"):
                created = await h.call("POST", "/v1/signatures", {"name": name, "company": f"{name}有限公司",
                                                                  "licence": "91310000MA1K000001",
                                                                  "purpose": "发货通知"}, key=user)
                assert created.status_code == 201, created.text
                ids[name] = created.json()["id"]
            for name in ("shipped", "pending"):
                created = await h.call("POST", "/v1/templates", {"name": name, "kind": "notification",
                                                                 "content": "尊敬的{name}，订单{order}已发货。"},
                                       key=user)
                assert created.status_code == 201, created.text
                ids[name] = created.json()["id"]
            for path in (f"/v1/signatures/{ids['好物商城']}", f"/v1/templates/{ids['shipped']}"):
                assert (await h.call("POST", path + "/approve")).json()["status"] == "approved"
            data = csv_bytes([["to", "name", "order"], *[[number("cmpp", i), f"客户{i}", f"SO{i:05d}"]
                                                         for i in range(5000)]])
            assert len(data) > 2 * 64 * 1024

            def counts(conn: Any) -> tuple[int, int, int]:
                return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                             for t in (batches, messages, batch_rejects))

            before = await h.gateway.store.read(counts)
            cases = [
                ({"template_id": "999999999", "signature": "好物商城"}, 400, "unknown_template", "template_id"),
                ({"template_id": ids["pending"], "signature": "好物商城"}, 403, "template_not_approved",
                 "template_id"),
                ({"template_id": ids["shipped"], "signature": "待审商城"}, 403, "signature_not_approved", "signature"),
                ({"template_id": ids["shipped"], "signature": "没有注册"}, 400, "unknown_signature", "signature"),
                ({"template_id": ids["shipped"]}, 400, "missing_signature", "signature"),
            ]
            for fields, status, code, field in cases:
                refused = await upload(h, fields, data, key=user)
                assert (refused.status_code, refused.json()["error"]["code"], refused.json()["error"]["field"]) \
                    == (status, code, field), (fields, refused.text)
                as_json = await h.call("POST", "/v1/batches", {**fields, "recipients": [
                    {"to": number("cmpp", i), "params": {"name": "王", "order": "A1"}} for i in range(3)]}, key=user)
                assert (as_json.status_code, as_json.json()["error"]["code"]) == (status, code), as_json.text
                assert await h.gateway.store.read(counts) == before
                assert h.gateway.dispatcher.held_batches == set()
            # the same refused upload with a wrong signature: the caller learns only that
            forged = await upload(h, cases[0][0], data, key=user, bad_signature=True)
            assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_signature"
            assert (await h.call("GET", "/v1/batches", key=user)).json()["items"] == []
            # nothing was counted against the numbers: the first of the file gets its message
            sent = await h.call("POST", "/v1/messages", {"to": number("cmpp", 0), "template_id": ids["shipped"],
                                                         "signature": "好物商城",
                                                         "params": {"name": "王", "order": "A1"}}, key=user)
            assert sent.status_code == 202, sent.text
            assert h.sims["cmpp"].stats.accepted <= 1


async def test_pause_resume_and_cancel(tmp_path: Path, db_url: str | None) -> None:
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), policy=NO_POLICY, db_url=db_url,
                                     channel_options={"smpp": {"tps": 100}}) as h:
            sim = h.sims["smpp"]
            created = (await h.call("POST", "/v1/batches", {
                "text": "paused", "recipients": [{"to": number("smpp", i)} for i in range(300)]})).json()
            with trio.fail_after(10):
                while sim.stats.accepted < 30:
                    await trio.sleep(0.01)
            paused = await h.call("POST", f"/v1/batches/{created['id']}/pause")
            assert paused.json() == {"id": created["id"], "state": "paused"}
            await trio.sleep(0.3)  # the windows drain
            sent = sim.stats.accepted
            await trio.sleep(0.7)
            assert sim.stats.accepted == sent < 300  # nothing more goes out while paused
            progress = (await h.call("GET", f"/v1/batches/{created['id']}")).json()
            assert progress["state"] == "paused" and progress["pending"] == 300 - progress["delivered"]
            again = await h.call("POST", f"/v1/batches/{created['id']}/pause")
            assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"
            # a single message still goes while the batch is paused
            single = await h.send(number("smpp", 1000))
            await h.wait_status(single, {"delivered"})
            assert (await h.call("POST", f"/v1/batches/{created['id']}/resume")).json()["state"] == "running"
            progress = await wait_state(h, created["id"], {"done"})
            assert progress["delivered"] == 300
            assert sim.stats.accepted == 301  # every message exactly once

            second = (await h.call("POST", "/v1/batches", {
                "text": "cancelled", "recipients": [{"to": number("smpp", 2000 + i)} for i in range(300)]})).json()
            with trio.fail_after(10):
                while sim.stats.accepted < 301 + 20:
                    await trio.sleep(0.01)
            assert (await h.call("POST", f"/v1/batches/{second['id']}/cancel")).json()["state"] == "cancelled"
            progress = await wait_state(h, second["id"], {"cancelled"})
            with trio.fail_after(10):
                while progress["done_at"] is None:
                    progress = (await h.call("GET", f"/v1/batches/{second['id']}")).json()
                    await trio.sleep(0.05)
            await trio.sleep(0.5)
            went = sim.stats.accepted - 301
            assert progress["cancelled"] == 300 - went and progress["pending"] == 0
            cancelled = await export(h, second["id"], "rejected")
            assert len(cancelled) == 300 - went and {r["error"] for r in cancelled} == {"batch_cancelled"}
            assert (await h.call("POST", f"/v1/batches/{second['id']}/resume")).status_code == 409


async def test_scheduled_start_and_failed_export(tmp_path: Path) -> None:
    with trio.fail_after(40):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), policy=NO_POLICY,
                                     sim_options={"smpp": {"dlr_outcomes": (("UNDELIV", 1.0),)}}) as h:
            start = time.time() + 1.5
            iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start)) + f".{int(start * 1000) % 1000:03d}"
            rows = [["to"], *[[number("smpp", i)] for i in range(20)]]
            response = await upload(h, {"text": "later", "send_at": iso}, csv_bytes(rows))
            assert response.status_code == 202, response.text
            created = response.json()
            progress = (await h.call("GET", f"/v1/batches/{created['id']}")).json()
            assert progress["state"] == "scheduled" and abs(progress["send_at"] - start) < 0.01
            await trio.sleep(0.5)
            assert h.sims["smpp"].stats.accepted == 0
            progress = await wait_state(h, created["id"], {"done"})
            assert h.sims["smpp"].stats.accepted == 20 and time.time() >= start
            assert progress["failed"] == 20 and progress["started_at"] >= start
            failed = await export(h, created["id"], "failed")
            assert len(failed) == 20
            assert {(r["status"], r["error"]) for r in failed} == {("failed", "UNDELIV")}
            assert "powered off" in failed[0]["reason"]
            everything = await export(h, created["id"], None)
            assert len(everything) == 20
            bad = await h.call("POST", "/v1/batches", {"text": "x", "send_at": "next tuesday",
                                                       "recipients": [{"to": number("smpp", 1)}]})
            assert bad.status_code == 400 and bad.json()["error"]["field"] == "send_at"


@pytest.mark.slow
async def test_100k_row_csv_batch_end_to_end(tmp_path: Path) -> None:
    """100,000 rows streamed in, sent through SMPP, every one delivered once; the delivered
    export matches the simulator's --record file. (~100 s on the shared 2-core machine, the
    simulator in the same process: see docs/platform-batches.md.)"""
    record = tmp_path / "record.jsonl"
    rows = 100_000
    with trio.fail_after(240):
        async with gateway_with_sims(
            tmp_path, protocols=("smpp",), policy=NO_POLICY,
            sim_options={"smpp": {"record": str(record), "window": 512, "dlr_delay": 0.01}},
            channel_options={"smpp": {"tps": 100_000, "window": 256, "binds": 2}},
        ) as h:
            data = csv_bytes([["to", "code"], *[[number("smpp", i), str(i)] for i in range(rows)]])
            started = time.monotonic()
            response = await upload(h, {"text": "batch {code}"}, data)
            uploaded = time.monotonic() - started
            assert response.status_code == 202, response.text
            created = response.json()
            assert (created["total"], created["accepted"], created["rejected"]) == (rows, rows, 0)
            progress = await wait_state(h, created["id"], {"done"}, timeout=200)
            took = time.monotonic() - started
            print(f"\n100k-row batch: upload {uploaded:.1f} s, done after {took:.1f} s")
            assert progress["delivered"] == rows
            delivered = await export(h, created["id"], "delivered")
            h.sims["smpp"].recorder.flush()
    assert len(delivered) == rows
    recorded: dict[str, str] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        assert entry["status"] == 0
        assert entry["dests"][0] not in recorded  # sent once
        recorded[entry["dests"][0]] = entry["text"]
    assert {r["to"] for r in delivered} == set(recorded)
    assert recorded[number("smpp", 4242)] == "batch 4242"


async def test_cli_send_watch_export_and_control(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), policy=NO_POLICY,
                                     sim_options={"smpp": {"dlr_outcomes": (("DELIVRD", 0.5), ("UNDELIV", 0.5))}}) as h:
            path = tmp_path / "list.csv"
            path.write_bytes(csv_bytes([["to", "name"], *[[number("smpp", i), f"n{i}"] for i in range(40)],
                                        ["oops", "x"]]))
            env = {"SMSGW_KEY": h.key, "SMSGW_SECRET": h.secret}

            def cli(*args: str) -> Any:
                return CliRunner().invoke(main, ["--url", h.base, "batch", *args], env=env)

            sent = await trio.to_thread.run_sync(cli, "send", str(path), "--text", "hi {name}")
            assert sent.exit_code == 0, sent.output
            assert "41 rows, 40 accepted, 1 rejected" in sent.output and "batch " in sent.output
            found = re.search(r"batch (\d+): done\n", sent.stdout)
            assert found is not None and "delivered" in sent.stdout, sent.output
            batch_id = found.group(1)
            out = tmp_path / "failed.csv"
            exported = await trio.to_thread.run_sync(cli, "export", batch_id, "--status", "failed", "-o", str(out))
            assert exported.exit_code == 0, exported.output
            failed = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
            progress = (await h.call("GET", f"/v1/batches/{batch_id}")).json()
            assert len(failed) == progress["failed"] > 0 and {r["error"] for r in failed} == {"UNDELIV"}
            rejected = await trio.to_thread.run_sync(cli, "export", batch_id, "--status", "rejected")
            assert "oops,rejected,invalid_number" in rejected.stdout
            listed = await trio.to_thread.run_sync(cli, "list")
            assert batch_id in listed.stdout
            refused = await trio.to_thread.run_sync(cli, "pause", batch_id)
            assert refused.exit_code == 1 and "409 invalid_state" in refused.output
            usage = await trio.to_thread.run_sync(cli, "send", str(path))
            assert usage.exit_code == 2


@pytest.mark.parametrize("verb", ["pause", "cancel"])
async def test_a_batch_reported_done_cannot_be_paused_or_cancelled(tmp_path: Path, verb: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Its progress says ``done`` as soon as nothing is pending, before the background task records
    it (within a second): a pause or cancel in that second was taken (the CLI's watch test saw a
    done batch paused), and the finished batch became paused or cancelled. Now it is 409."""
    monkeypatch.setattr(batches_module, "_TICK", 60.0)  # the background task records nothing meanwhile
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",), policy=NO_POLICY) as h:
            created = await h.call("POST", "/v1/batches", {"text": "hi", "recipients": [
                {"to": number("smpp", i)} for i in range(5)]})
            batch_id = created.json()["id"]
            with trio.fail_after(10):
                while (await h.call("GET", f"/v1/batches/{batch_id}")).json()["pending"]:
                    await trio.sleep(0.02)
            assert (await h.call("GET", f"/v1/batches/{batch_id}")).json()["state"] == "done"
            refused = await h.call("POST", f"/v1/batches/{batch_id}/{verb}")
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["code"] == "invalid_state"
            assert (await h.call("GET", f"/v1/batches/{batch_id}")).json()["state"] == "done"
            assert int(batch_id) not in h.gateway.dispatcher.held_batches
