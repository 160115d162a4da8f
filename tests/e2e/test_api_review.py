"""Review of the HTTP API and intake: hostile or odd input gets a specific 4xx (never a 500, a hang
or unbounded memory), and batch control answers what it did."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from sqlalchemy import select

from smsgw import api
from smsgw.http.auth import sign
from smsgw.http.multipart import MultipartParser, PartData, PartEnd, PartStart
from smsgw.keys import set_disabled
from smsgw.store.schema import messages

from .harness import gateway_with_sims, number
from .test_batches import csv_bytes, upload


async def test_ids_and_cursors_out_of_range_or_not_ascii_are_4xx(tmp_path: Path) -> None:
    """A 20-digit id or cursor does not fit the database's 64-bit integer, and "²" passes
    str.isdigit but not int(): both were answered 500 internal_error."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            huge, sup = "99999999999999999999", "%C2%B2"  # 2**64 > huge > 2**63; "²"
            for path in (f"/v1/messages/{huge}", f"/v1/messages/{sup}", f"/v1/batches/{huge}",
                         f"/v1/batches/{huge}/recipients", f"/v1/templates/{huge}", f"/v1/signatures/{sup}"):
                response = await h.call("GET", path)
                assert response.status_code == 404, (path, response.text)
                assert response.json()["error"]["code"] == "not_found"
            for path in (f"/v1/batches/{huge}/pause", f"/v1/callbacks/{huge}/retry",
                         f"/v1/templates/{huge}/approve"):
                response = await h.call("POST", path, {})
                assert response.status_code == 404, (path, response.text)
            for path, code in ((f"/v1/reports?after={huge}", "invalid_cursor"),
                               (f"/v1/reports?after={sup}", "invalid_cursor"),
                               (f"/v1/reports?limit={sup}", "invalid_limit"),
                               (f"/v1/mo?after={huge}", "invalid_cursor"),
                               (f"/v1/callbacks?after={huge}", "invalid_cursor"),
                               (f"/v1/batches?after={huge}", "invalid_cursor"),
                               (f"/v1/batches?after={sup}", "invalid_cursor"),
                               (f"/v1/batches?limit={sup}", "invalid_limit"),
                               (f"/v1/blacklist?after={huge}", "invalid_cursor"),
                               (f"/v1/whitelist?limit={sup}", "invalid_limit"),
                               (f"/v1/signatures?after={sup}", "invalid_cursor"),
                               (f"/v1/templates?limit={sup}", "invalid_limit")):
                response = await h.call("GET", path)
                assert response.status_code == 400, (path, response.text)
                assert response.json()["error"] == {
                    "code": code, "field": code.removeprefix("invalid_").replace("cursor", "after"),
                    "message": response.json()["error"]["message"]}, path
            # the largest id is still a well-formed one: not found, and a cursor past everything
            assert (await h.call("GET", f"/v1/messages/{(1 << 63) - 1}")).status_code == 404
            response = await h.call("GET", f"/v1/reports?after={(1 << 63) - 1}")
            assert response.status_code == 200 and response.json()["items"] == []


async def test_batch_history_refuses_bad_time_bounds_as_stats_does(tmp_path: Path) -> None:
    """``GET /v1/batches?from=nan`` answered 200 with an empty list (nan compares false with every
    time) while ``/v1/stats?from=nan`` is a 400: both read ``from``/``to`` with one parser now."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            created = await h.call("POST", "/v1/batches", {"text": "x", "recipients": [{"to": number("smpp", 1)}]})
            assert created.status_code == 202, created.text
            for query, code in (("from=nan", "invalid_from"), ("to=NaN", "invalid_to"), ("from=inf", "invalid_from"),
                                ("to=-1", "invalid_to"), ("from=soon", "invalid_from"),
                                ("from=2030-01-02&to=2030-01-01", "invalid_from")):
                for path in ("/v1/batches", "/v1/stats"):
                    response = await h.call("GET", f"{path}?{query}")
                    assert response.status_code == 400, (path, query, response.text)
                    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
                        code, code.removeprefix("invalid_")), (path, query)
            today = time.strftime("%Y-%m-%d", time.gmtime())
            for query, found in ((f"from={time.time() - 60:.0f}", True), (f"from={today}&to={today}", True),
                                 ("to=2024-01-01", False)):
                items = (await h.call("GET", f"/v1/batches?{query}")).json()["items"]
                assert [item["id"] for item in items] == ([created.json()["id"]] if found else []), query


async def test_deeply_nested_json_is_invalid_json(tmp_path: Path) -> None:
    """100,000 "[" (100 KB, well under the body limit) made json.loads raise RecursionError: 500."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            for path in ("/v1/messages", "/v1/batches", "/v1/templates"):
                for raw in (b"[" * 100_000, b'{"to": ' + b'{"a": ' * 100_000):
                    response = await h.call("POST", path, raw=raw)
                    assert response.status_code == 400, (path, response.text)
                    assert response.json()["error"]["code"] == "invalid_json"
            assert (await h.call("GET", "/v1/reports")).status_code == 200  # the connection and server are fine


async def test_send_at_out_of_range_is_invalid_send_at(tmp_path: Path) -> None:
    """send_at 1e400 (JSON for infinity), "inf" or "nan" made a batch scheduled forever (or started at
    once) whose send_at was then written as Infinity/NaN, which is not JSON; a 400-digit integer was a 500."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            recipients = b'"recipients": [{"to": "' + number("smpp", 1).encode() + b'"}]'
            for send_at in (b"1e400", b"-1e400", b"1" + b"0" * 400, b'"inf"', b'"nan"', b'"Infinity"', b'"1e999"'):
                response = await h.call("POST", "/v1/batches", raw=b'{"text": "x", "send_at": ' + send_at + b", "
                                        + recipients + b"}")
                assert response.status_code == 400, (send_at, response.text)
                assert response.json()["error"]["code"] == "invalid_send_at", send_at
            # a plain far-future time still schedules the batch, and reads back as JSON
            response = await h.call("POST", "/v1/batches", raw=b'{"text": "x", "send_at": "9999-12-31T00:00:00Z", '
                                    + recipients + b"}")
            assert response.status_code == 202, response.text
            listed = await h.call("GET", "/v1/batches")
            assert [b["state"] for b in json.loads(listed.text, parse_constant=_refuse)["items"]] == ["scheduled"]


def _refuse(constant: str) -> None:
    raise AssertionError(f"the answer is not JSON: it has {constant}")


async def test_upload_encoding_that_is_not_a_text_encoding_is_invalid_encoding(tmp_path: Path) -> None:
    """codecs.lookup knows bytes-to-bytes codecs (base64, hex, zlib, ...) and rot13: named as the CSV's
    encoding they raised TypeError/binascii.Error/zlib.error in the CSV decoder, answered 500; a text
    codec's own decode error (punycode raises UnicodeError) was a 500 as well."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            data = csv_bytes([["to"], [number("smpp", 1)], [number("smpp", 2)]])
            for encoding in ("base64", "hex", "zlib", "rot13", "quopri", "uu", "bz2"):
                response = await upload(h, {"text": "x", "encoding": encoding}, data)
                assert response.status_code == 400, (encoding, response.text)
                assert response.json()["error"]["code"] == "invalid_encoding", encoding
            response = await upload(h, {"text": "x", "encoding": "punycode"}, data)
            assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_csv", response.text
            utf16 = f"to\r\n{number('smpp', 1)}\r\n".encode("utf-16")
            response = await upload(h, {"text": "x", "encoding": "utf-16"}, utf16)
            assert response.status_code == 202 and response.json()["accepted"] == 1, response.text
            # nothing of the refused uploads is left behind
            listed = await h.call("GET", "/v1/batches")
            assert len(listed.json()["items"]) == 1


def test_multipart_transport_padding_is_not_buffered() -> None:
    """The padding allowed after a delimiter was kept in the buffer until a CRLF came, and copied
    on every chunk: a streamed upload (no size limit) of spaces grew the server's memory without
    bound, quadratically slow. It is dropped as it arrives now."""
    parser = MultipartParser(b"B")
    assert parser.feed(b"--B") == []
    tracemalloc.start()
    try:
        for _ in range(128):  # 8 MiB of padding
            assert parser.feed(b" " * 65536) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    events = parser.feed(b'\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--B--\r\n')
    assert [type(e) for e in events] == [PartStart, PartData, PartEnd] and events[1] == PartData(b"v")
    parser.close()


async def test_key_disabled_while_the_body_arrives_is_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is checked when the head arrives; if ``smsgw keys disable`` took it out of the cache
    before the body ended, the handler's look-up raised KeyError: 500 instead of 401 unknown_key."""
    monkeypatch.setattr(api, "KEY_RECHECK", 0.05)
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            user_id, secret = h.new_key()
            body = json.dumps({"to": number("smpp", 1), "text": "slow"}).encode()
            headers = sign(secret, "POST", "/v1/messages", body, key_id=user_id)
            head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            stream = await trio.open_tcp_stream("127.0.0.1", h.gateway.http_port)
            await stream.send_all(f"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                                  f"content-length: {len(body)}\r\n{head}\r\n".encode() + body[:10])

            def disable(conn: Any) -> None:
                assert set_disabled(conn, user_id, True)
                conn.commit()

            while user_id not in h.gateway.api.keys:  # the head is verified
                await trio.sleep(0.01)
            h.read_db(disable)
            while user_id in h.gateway.api.keys:
                await trio.sleep(0.02)
            await stream.send_all(body[10:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}}"):
                answer += await stream.receive_some(65536)
            await stream.aclose()
            assert answer.startswith(b"HTTP/1.1 401 "), answer
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "unknown_key"
            count = await h.gateway.store.read(lambda conn: len(conn.execute(select(messages.c.id)).all()))
            assert count == 0


@pytest.mark.parametrize("action", ["pause", "cancel"])
async def test_pause_or_cancel_as_a_scheduled_batch_falls_due_holds(tmp_path: Path, action: str) -> None:
    """The background task read the due batches, then took each one's lock and started it with an
    UPDATE ... WHERE state = 'scheduled' — and went on as if it had started even when a pause or a
    cancel got the lock first (the UPDATE changed nothing): the paused batch's rows were flipped to
    accepted and sent, and its state (or a cancelled one's) ended "done"."""
    with trio.fail_after(30):
        async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
            service = h.gateway.api.batches
            send_at = time.time() + 1.5
            ids = await h.batch([number("smpp", i) for i in range(3)], send_at=send_at)
            batch_id = (await h.call("GET", "/v1/batches")).json()["items"][0]["id"]
            lock = service._locks[int(batch_id)]
            answers: list[httpx.Response] = []
            async with trio.open_nursery() as nursery:
                await lock.acquire()

                async def control() -> None:
                    answers.append(await h.call("POST", f"/v1/batches/{batch_id}/{action}"))

                nursery.start_soon(control)
                while lock.statistics().tasks_waiting < 1:  # the pause (or cancel) waits for the lock
                    await trio.sleep(0.01)
                while lock.statistics().tasks_waiting < 2:  # then the task that found the batch due
                    await trio.sleep(0.01)
                lock.release()
            assert answers[0].status_code == 200, answers[0].text
            await trio.sleep(2.5)  # two ticks
            expected = {"pause": "paused", "cancel": "cancelled"}[action]
            progress = (await h.call("GET", f"/v1/batches/{batch_id}")).json()
            assert progress["state"] == expected, progress
            assert await h.statuses(ids) == {"pause": {"held": 3}, "cancel": {"rejected": 3}}[action]
            assert (await h.call("GET", f"/v1/batches?state={expected}")).json()["items"][0]["id"] == batch_id


async def test_nul_in_a_string_is_invalid_json_on_both_backends(tmp_path: Path, db_url: str | None) -> None:
    """PostgreSQL cannot store U+0000 in text (it was a 500 there, a stored NUL on SQLite)."""
    with trio.fail_after(20):
        async with gateway_with_sims(tmp_path, db_url=db_url, protocols=("smpp",)) as h:
            to = number("smpp", 1)
            for body in ({"to": to, "text": "a\x00b"}, {"to": to, "text": "ab", "client_ref": "x\x00"},
                         {"to": to, "text": "ab", "extra": {"k\x00": 1}}):
                response = await h.call("POST", "/v1/messages", body)
                assert response.status_code == 400, response.text
                assert response.json()["error"]["code"] == "invalid_json" and "U+0000" in response.text
            raw = b'{"to": "%s", "text": "\\\\u0000 is fine"}' % to.encode()
            literal = await h.call("POST", "/v1/messages", raw=raw)
            assert literal.status_code == 202, literal.text  # an escaped backslash, then "u0000": no NUL
            batch = await h.call("POST", "/v1/batches", {"text": "x", "signature": "S\x00",
                                                          "recipients": [{"to": to}]})
            assert batch.status_code == 400 and batch.json()["error"]["code"] == "invalid_json"
