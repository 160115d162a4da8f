"""``GET /v1/channels/{name}/trace``: live decoded PDUs of a channel, against in-process
simulators (tests/e2e/harness.py), and the pieces behind it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from protocols import cmpp, smgp, smpp
from smsgw.http.auth import sign
from smsgw.trace import Subscription, _line, compact, pdu_line, status_of
from tests.e2e.harness import NUMBER, Harness, gateway_with_sims

CHANNEL = {"smpp": "smpp-sim", "cmpp": "cmpp-sim", "smgp": "smgp-sim"}
SUBMIT = {"smpp": "submit_sm", "cmpp": "SUBMIT", "smgp": "SUBMIT"}


async def _lines(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.strip():
            yield json.loads(line)


async def _open_trace(h: Harness, client: httpx.AsyncClient, channel: str,
                      key: tuple[str, str] | None = None) -> Any:
    path = f"/v1/channels/{channel}/trace"
    key_id, secret = key or (h.key, h.secret)
    request = client.build_request("GET", h.base + path, headers=sign(secret, "GET", path, b"", key_id=key_id))
    return await client.send(request, stream=True)


async def _collect_until(lines: AsyncIterator[dict[str, Any]], want: set[tuple[str, str]],
                         seen: list[dict[str, Any]]) -> None:
    """Read lines until every (direction, command) in ``want`` was seen (case-insensitive)."""
    missing = {(d, c.lower()) for d, c in want}
    async for line in lines:
        seen.append(line)
        if "command" in line:
            missing.discard((line["direction"], str(line["command"]).lower()))
        if not missing:
            return


@pytest.mark.parametrize("protocol", ["smpp", "cmpp", "smgp"])
async def test_trace_shows_submit_and_response(tmp_path: Path, protocol: str) -> None:
    async with gateway_with_sims(tmp_path, protocols=(protocol,)) as h, \
            httpx.AsyncClient(timeout=10) as client:
        with trio.fail_after(15):
            response = await _open_trace(h, client, CHANNEL[protocol])
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ndjson"
            lines = _lines(response)
            first = await anext(lines)
            assert first["subscribed"] == CHANNEL[protocol]
            assert h.gateway.trace.subscriptions
            await h.send(NUMBER[protocol], "trace me")
            seen: list[dict[str, Any]] = []
            submit = SUBMIT[protocol]
            await _collect_until(lines, {("out", submit), ("in", submit + "_resp")}, seen)
            await response.aclose()
        out = next(x for x in seen if x.get("direction") == "out" and x["command"].lower() == submit.lower())
        assert out["status"] is None and isinstance(out["sequence"], int) and out["session"] == 0
        assert isinstance(out["time"], float)
        assert out["fields"].get("text") == "trace me"
        assert any(NUMBER[protocol] in json.dumps(v) for v in out["fields"].values())
        resp = next(x for x in seen if x.get("direction") == "in" and x["command"].lower() == submit.lower() + "_resp")
        assert resp["status"] == 0 and resp["sequence"] == out["sequence"]
        assert resp["fields"].get("message_id") or resp["fields"].get("msg_id")
        # the tracer goes away with the client
        with trio.fail_after(10):
            while h.gateway.trace.subscriptions:
                await trio.sleep(0.05)
        channel = h.gateway.dispatcher.channels[CHANNEL[protocol]]
        assert not channel._tracers


async def test_trace_shows_bind_after_reconnect(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h, httpx.AsyncClient(timeout=10) as client:
        with trio.fail_after(15):
            response = await _open_trace(h, client, "smpp-sim")
            lines = _lines(response)
            assert "subscribed" in await anext(lines)
            await h.restart_sim("smpp")
            seen: list[dict[str, Any]] = []
            await _collect_until(lines, {("out", "bind_transceiver"), ("in", "bind_transceiver_resp")}, seen)
            await response.aclose()
        bind = next(x for x in seen if x.get("command") == "bind_transceiver")
        assert bind["fields"]["system_id"] == "smsgw"
        assert "secret" not in json.dumps(bind)  # the password is never traced


async def test_trace_unknown_channel_and_non_admin(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h, httpx.AsyncClient(timeout=10) as client:
        response = await _open_trace(h, client, "nope")
        await response.aread()
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_channel"
        response = await _open_trace(h, client, "smpp-sim", key=h.new_key(admin=False))
        await response.aread()
        assert response.status_code == 403


async def test_trace_stream_ends_when_the_gateway_stops(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h, httpx.AsyncClient(timeout=10) as client:
        response = await _open_trace(h, client, "smpp-sim")
        lines = _lines(response)
        assert "subscribed" in await anext(lines)
        h.gateway.stop.set()
        with trio.fail_after(5):
            async for _ in lines:
                pass
        await response.aclose()


# ----------------------------------------------------------------------------- units
class _FakeChannel:
    name = "x"

    def __init__(self) -> None:
        self.tracers: set[Any] = set()

    def add_tracer(self, tracer: Any) -> None:
        self.tracers.add(tracer)

    def remove_tracer(self, tracer: Any) -> None:
        self.tracers.discard(tracer)


def test_slow_subscriber_drops_and_counts() -> None:
    channel = _FakeChannel()
    sub = Subscription(channel, size=3)  # type: ignore[arg-type]
    sub.attach()
    assert channel.tracers
    for seq in range(1, 6):
        for tracer in channel.tracers:
            tracer("out", smpp.EnquireLink(sequence=seq), 0)
    assert len(sub.buffer) == 3 and sub.dropped == 2
    assert [item[3] for item in sub.take(10)] == [1, 2, 3]
    sub.detach()
    assert not channel.tracers


def test_pdu_line_for_each_protocol() -> None:
    line = pdu_line(smpp.describe, 1.0, "in", 0, 9, smpp.SubmitSmResp(sequence=9, status=0x58, message_id=""))
    assert line["command"] == "submit_sm_resp" and line["status"] == 0x58 and line["status_name"] == "ESME_RTHROTTLED"
    bind = smpp.describe(smpp.BindTransceiver(sequence=1, system_id="acct", password="pw"))
    assert compact(bind) == {"system_id": "acct", "interface_version": "0x34"}
    submit = cmpp.describe(cmpp.SubmitResp(sequence=3, msg_id=0x1234, result=8), version=3)
    assert status_of(submit)[0] == 8 and compact(submit)["msg_id"] == "0000000000001234"
    resp = smgp.describe(smgp.SubmitResp(sequence=4, msg_id=bytes(10), status=0))
    assert status_of(resp) == (0, resp.get("status_name")) and compact(resp)["msg_id"] == "00" * 10


def test_a_line_stays_one_line_whatever_the_operator_sent() -> None:
    """U+0085, U+2028 and U+2029 are left raw by JSON and break lines for httpx's iter_lines
    (what ``smsgw trace`` reads with) and str.splitlines: the trace line escapes them."""
    text = "a\u2028b\u2029c\x85d\u00e9\u4e2d"
    pdu = smpp.DeliverSm(sequence=5, data_coding=8, short_message=text.encode("utf-16-be"))
    data = _line(pdu_line(smpp.describe, 1.0, "in", 0, 5, pdu))
    lines = list(httpx._decoders.LineDecoder().decode(data.decode()))
    assert len(lines) == 1 and len(data.decode().splitlines()) == 1
    assert json.loads(lines[0])["fields"]["text"] == text
