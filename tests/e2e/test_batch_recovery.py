"""Batches across a restart of the gateway on the same database, through the HTTP API against
the simulators: a paused batch stays paused and resumes with every number sent exactly once; a
scheduled batch starts when due (also when it fell due while the gateway was down); a cancel
holds (and one cut short by a crash is finished at start); an upload cut off by ``kill -9``
leaves nothing behind and its frequency-limit counts do not leak."""

from __future__ import annotations

import collections
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import trio
from sqlalchemy import func, select, update

from smsgw.http.auth import sign
from smsgw.store.engine import make_engine
from smsgw.store.schema import batch_rejects, batches, messages

from .harness import Harness, gateway_with_sims, number, write_config
from .test_batches import BOUNDARY, NO_POLICY, csv_bytes, export, multipart, wait_state
from .test_crash import BIN, Daemon, _free_port


def recorded(path: Path) -> collections.Counter[str]:
    """Numbers the simulators took (status 0), with how many times: over every run, the record file
    is appended to."""
    taken: collections.Counter[str] = collections.Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["status"] == 0:
            taken[entry["dests"][0]] += 1
    return taken


async def progress(h: Harness, batch_id: str) -> dict[str, Any]:
    response = await h.call("GET", f"/v1/batches/{batch_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_until_windows_drained(h: Harness, batch_id: str) -> dict[str, Any]:
    """Until no message of the batch is ``submitted`` (its receipt came): a simulator's receipts do
    not outlive it."""
    with trio.fail_after(15):
        while True:
            p = await progress(h, batch_id)
            if p["submitted"] == p["delivered"] + p["failed"]:
                return p
            await trio.sleep(0.1)


async def wait_sent(h: Harness, at_least: int) -> None:
    with trio.fail_after(15):
        while h.sims["smpp"].stats.accepted < at_least:
            await trio.sleep(0.01)


def run_sql(url: str, fn: Any) -> Any:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            return fn(conn)
    finally:
        engine.dispose()


def table_counts(conn: Any) -> tuple[int, int, int]:
    return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                 for t in (batches, messages, batch_rejects))


async def test_paused_batch_stays_paused_across_a_restart_then_resumes_exactly_once(
        tmp_path: Path, db_url: str | None) -> None:
    record = tmp_path / "record.jsonl"
    options: dict[str, Any] = {"protocols": ("smpp",), "policy": NO_POLICY, "db_url": db_url,
                               "sim_options": {"smpp": {"record": str(record)}},
                               "channel_options": {"smpp": {"tps": 100}}}
    numbers = [number("smpp", i) for i in range(300)]
    with trio.fail_after(90):
        async with gateway_with_sims(tmp_path, **options) as h:
            created = (await h.call("POST", "/v1/batches", {
                "text": "paused over a restart", "recipients": [{"to": n} for n in numbers]})).json()
            batch_id = created["id"]
            await wait_sent(h, 30)
            assert (await h.call("POST", f"/v1/batches/{batch_id}/pause")).json()["state"] == "paused"
            before = await wait_until_windows_drained(h, batch_id)
            sent = h.sims["smpp"].stats.accepted
            assert before["delivered"] == sent < 300
            h.sims["smpp"].recorder.flush()
        async with gateway_with_sims(tmp_path, **options) as h:
            after = await progress(h, batch_id)
            assert after["state"] == "paused"
            assert (after["delivered"], after["pending"]) == (sent, 300 - sent)
            await trio.sleep(1.0)
            assert h.sims["smpp"].stats.accepted == 0  # still paused: nothing goes out
            assert (await h.call("POST", f"/v1/batches/{batch_id}/resume")).json()["state"] == "running"
            done = await wait_state(h, batch_id, {"done"}, timeout=40)
            assert (done["delivered"], done["pending"], done["failed"]) == (300, 0, 0)
            assert h.sims["smpp"].stats.accepted == 300 - sent
            h.sims["smpp"].recorder.flush()
    assert recorded(record) == collections.Counter(numbers)  # every number exactly once over both runs


async def test_scheduled_batches_start_after_a_restart_when_due(tmp_path: Path, db_url: str | None) -> None:
    """One batch falls due while the gateway is down (it starts at once after the restart), the
    other after the restart (it waits for its time)."""
    record = tmp_path / "record.jsonl"
    options: dict[str, Any] = {"protocols": ("smpp",), "policy": NO_POLICY, "db_url": db_url,
                               "sim_options": {"smpp": {"record": str(record)}}}
    early_numbers = [number("smpp", i) for i in range(20)]
    late_numbers = [number("smpp", 100 + i) for i in range(20)]
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, **options) as h:
            now = time.time()
            early_at, late_at = now + 1.0, now + 6.0
            early = (await h.call("POST", "/v1/batches", {"text": "early", "send_at": early_at,
                                                          "recipients": [{"to": n} for n in early_numbers]})).json()
            late = (await h.call("POST", "/v1/batches", {"text": "late", "send_at": late_at,
                                                         "recipients": [{"to": n} for n in late_numbers]})).json()
            assert {(await progress(h, b["id"]))["state"] for b in (early, late)} == {"scheduled"}
        await trio.sleep(max(0.0, early_at + 0.5 - time.time()))  # the early one falls due while down
        async with gateway_with_sims(tmp_path, **options) as h:
            assert time.time() < late_at - 1.0, "the restart took too long for this test"
            first = await wait_state(h, early["id"], {"done"}, timeout=10)
            assert first["delivered"] == 20 and first["started_at"] >= early_at
            assert time.time() < late_at, "the early batch took too long for this test"
            assert (await progress(h, late["id"]))["state"] == "scheduled"
            assert h.sims["smpp"].stats.accepted == 20
            second = await wait_state(h, late["id"], {"done"}, timeout=20)
            assert second["delivered"] == 20 and second["started_at"] >= late_at
            h.sims["smpp"].recorder.flush()
    assert recorded(record) == collections.Counter(early_numbers + late_numbers)


async def test_cancel_holds_across_a_restart_and_one_cut_short_is_finished_at_start(
        tmp_path: Path, db_url: str | None) -> None:
    record = tmp_path / "record.jsonl"
    options: dict[str, Any] = {"protocols": ("smpp",), "policy": NO_POLICY, "db_url": db_url,
                               "sim_options": {"smpp": {"record": str(record)}},
                               "channel_options": {"smpp": {"tps": 100}}}
    running_numbers = [number("smpp", i) for i in range(300)]
    scheduled_numbers = [number("smpp", 1000 + i) for i in range(50)]
    with trio.fail_after(90):
        async with gateway_with_sims(tmp_path, **options) as h:
            url = h.gateway.config.gateway.database
            cancelled = (await h.call("POST", "/v1/batches", {
                "text": "cancelled", "recipients": [{"to": n} for n in running_numbers]})).json()["id"]
            later = (await h.call("POST", "/v1/batches", {
                "text": "cancel cut short", "send_at": time.time() + 3600,
                "recipients": [{"to": n} for n in scheduled_numbers]})).json()["id"]
            await wait_sent(h, 30)
            assert (await h.call("POST", f"/v1/batches/{cancelled}/cancel")).json()["state"] == "cancelled"
            with trio.fail_after(15):
                while (before := await progress(h, cancelled))["done_at"] is None:
                    await trio.sleep(0.05)
            before = await wait_until_windows_drained(h, cancelled)
            sent = h.sims["smpp"].stats.accepted
            assert before["cancelled"] == 300 - sent and before["delivered"] == sent
            h.sims["smpp"].recorder.flush()
        # a crash between recording the cancel and marking the rows: the state is written, the rows are not
        run_sql(url, lambda conn: conn.execute(update(batches).where(batches.c.id == int(later))
                                               .values(state="cancelled")))
        async with gateway_with_sims(tmp_path, **options) as h:
            after = await progress(h, cancelled)
            assert after["state"] == "cancelled"
            assert {k: after[k] for k in ("delivered", "cancelled", "pending")} == {
                "delivered": sent, "cancelled": 300 - sent, "pending": 0}
            with trio.fail_after(10):
                while (finished := await progress(h, later))["done_at"] is None:
                    await trio.sleep(0.05)
            assert (finished["state"], finished["cancelled"], finished["pending"]) == ("cancelled", 50, 0)
            rejected = await export(h, later, "rejected")
            assert sorted(r["to"] for r in rejected) == scheduled_numbers
            assert {r["error"] for r in rejected} == {"batch_cancelled"}
            resumed = await h.call("POST", f"/v1/batches/{cancelled}/resume")
            assert resumed.status_code == 409 and resumed.json()["error"]["code"] == "invalid_state"
            await trio.sleep(1.0)
            assert h.sims["smpp"].stats.accepted == 0  # nothing of either batch went out after the restart
            h.sims["smpp"].recorder.flush()
    taken = recorded(record)
    assert set(taken) <= set(running_numbers) and len(taken) == sent and set(taken.values()) == {1}


async def test_upload_cut_off_by_kill_is_cleaned_up_at_start_without_leaking_limit_counts(tmp_path: Path) -> None:
    """``smsgw serve`` as a process, SIGKILLed while a CSV upload streams in: its batch is left
    ``loading`` with held rows. At the next start they are deleted, and the sends they counted
    (Limits.load replays the day's messages) are uncounted: a number of the upload gets its one
    message per minute."""
    http_port = _free_port()
    base = f"http://127.0.0.1:{http_port}"
    policy = {"content_review": False, "frequency_limits": True}
    # the channel's SMSC is not running: nothing here needs to be sent
    config = write_config(tmp_path, {"smpp": _free_port()}, gateway={"http": f"127.0.0.1:{http_port}"},
                          policy=policy)
    url = f"sqlite:///{tmp_path / 'smsgw.db'}"
    smsgw = [str(BIN / "smsgw"), "--config", str(config)]
    rows = [["to"], *[[number("smpp", i)] for i in range(20_000)]]
    body = multipart({"text": "cut off"}, csv_bytes(rows))
    with trio.fail_after(60):
        await trio.run_process([*smsgw, "db", "upgrade"], capture_stdout=True)
        created = await trio.run_process([*smsgw, "keys", "create", "--name", "t", "--json"], capture_stdout=True)
        key = json.loads(created.stdout)
        daemon = Daemon(config, tmp_path / "smsgw.log")
        await daemon.start(base)
        headers = sign(key["secret"], "POST", "/v1/batches", body, key_id=key["key"])
        headers["content-type"] = f"multipart/form-data; boundary={BOUNDARY}"

        async def half_then_hang() -> Any:
            yield body[:len(body) // 2]
            await trio.sleep_forever()

        async def upload() -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                with contextlib.suppress(httpx.TransportError):  # the daemon dies under it
                    await client.post(base + "/v1/batches", content=half_then_hang(), headers=headers)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(upload)
            while True:
                state = run_sql(url, lambda conn: (conn.execute(select(batches.c.state)).scalars().all(),
                                                   conn.execute(select(func.count()).select_from(messages))
                                                   .scalar_one()))
                if state[0] == ["loading"] and state[1] >= 5000:
                    break
                await trio.sleep(0.05)
            await daemon.kill()
            nursery.cancel_scope.cancel()
        assert run_sql(url, lambda conn: conn.execute(select(messages.c.status).distinct()).scalars().all()) \
            == ["held"]

        await daemon.start(base)
        try:
            with trio.fail_after(10):  # deleted by the background task
                while run_sql(url, table_counts) != (0, 0, 0):
                    await trio.sleep(0.05)
            async with httpx.AsyncClient(timeout=10) as client:

                async def send(to: str) -> httpx.Response:
                    data = json.dumps({"to": to, "text": "after the crash"}).encode()
                    return await client.post(base + "/v1/messages", content=data,
                                             headers=sign(key["secret"], "POST", "/v1/messages", data,
                                                          key_id=key["key"]))

                first = await send(number("smpp", 7))
                assert first.status_code == 202, first.text  # not counted by the cut-off upload
                second = await send(number("smpp", 7))
                assert second.status_code == 429 and second.json()["error"]["code"] == "frequency_limited"
        finally:
            assert await daemon.stop() == 0
