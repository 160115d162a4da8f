"""``smsgw`` commands (CONTRACT §3): decode on the spec vectors, keys and db against a temporary
SQLite config, and the API commands (channels, send, trace) against an in-process gateway,
run as real subprocesses (``python -m smsgw.cli``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from smsgw.cli import format_trace_line, main
from tests.e2e.harness import NUMBER, Harness, gateway_with_sims

# PROTOCOLS.md A.1: the SMPP 3.4 spec's bind_transmitter
SMPP_BIND = ("0000002F000000020000000000000001" "534D5050335445535400" "73656372657430380" "0"
             "5355424D49543100" "00" "01" "01" "00")
# PROTOCOLS.md C.3: CMPP_CONNECT, identical in 2.0 and 3.0
CMPP_CONNECT = ("00000027" "00000001" "00000001" + b"901234".hex() + "031c6faf8dfd92fde7ce5cf38bf28aa0" "30"
                "11F0E540")
# PROTOCOLS.md D.3: SMGP Login
SMGP_LOGIN = ("0000002a" "00000001" "00000001" "3132333435363738" "95898c46dedbcf393dcd4c2a861481e9" "02"
              "11f0e540" "30")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


# ------------------------------------------------------------------------------ decode
def test_decode_smpp_spec_vector() -> None:
    code, out = run("decode", "--protocol", "smpp", SMPP_BIND)
    assert code == 0, out
    pdu = json.loads(out)
    assert pdu["command"] == "bind_transmitter" and pdu["sequence"] == 1
    assert (pdu["system_id"], pdu["password"], pdu["system_type"]) == ("SMPP3TEST", "secret08", "SUBMIT1")
    assert pdu["addr_ton"]["value"] == 1 and pdu["interface_version"] == "0x00"


@pytest.mark.parametrize("protocol", ["cmpp2", "cmpp3"])
def test_decode_cmpp_spec_vector(protocol: str) -> None:
    code, out = run("decode", "--protocol", protocol, CMPP_CONNECT)
    assert code == 0, out
    pdu = json.loads(out)
    assert pdu["protocol"] == ("CMPP 2.0" if protocol == "cmpp2" else "CMPP 3.0")
    assert pdu["command"] == "CONNECT" and pdu["source_addr"] == "901234"
    assert pdu["authenticator_source"] == "031c6faf8dfd92fde7ce5cf38bf28aa0"
    assert pdu["timestamp"] == "0301000000" and pdu["version"]["text"] == "3.0"


def test_decode_smgp_spec_vector_with_spaces() -> None:
    spaced = " ".join(SMGP_LOGIN[i:i + 8] for i in range(0, len(SMGP_LOGIN), 8))
    code, out = run("decode", "--protocol", "smgp", *spaced.split())
    assert code == 0, out
    pdu = json.loads(out)
    assert pdu["command"] == "LOGIN" and pdu["client_id"] == "12345678" and pdu["timestamp"] == 301000000


@pytest.mark.parametrize(
    ("protocol", "hex_pdu", "offset"),
    [
        ("smpp", "000000140000000400000000000000010000000a", "offset 19"),  # submit_sm cut short
        ("smpp", SMPP_BIND[:-2], "offset 0"),  # the length field says more than was given
        ("cmpp3", "0000000E00000004000000010102", "offset 0"),
        ("cmpp2", CMPP_CONNECT[:-2], "offset 0"),
        ("smgp", "0000000E00000002000000010102", "offset 14"),
    ],
)
def test_decode_malformed_exits_1_with_the_offset(protocol: str, hex_pdu: str, offset: str) -> None:
    code, out = run("decode", "--protocol", protocol, hex_pdu)
    assert code == 1
    assert "malformed" in out and offset in out


@pytest.mark.parametrize("bad", ["00zz", "123", "0x0"])
def test_decode_bad_hex_exits_2(bad: str) -> None:
    code, out = run("decode", "--protocol", "smpp", bad)
    assert code == 2 and "hex" in out


def test_decode_unknown_protocol_exits_2() -> None:
    code, _ = run("decode", "--protocol", "ucp", "00")
    assert code == 2


# ---------------------------------------------------------------------------- keys, db
def _config(tmp_path: Path) -> Path:
    path = tmp_path / "channels.toml"
    path.write_text(
        '[gateway]\nhttp = "127.0.0.1:1"\ndatabase = "sqlite:///data/smsgw.db"\n\n'
        '[[channel]]\nname = "a"\nprotocol = "smpp"\nhost = "127.0.0.1"\nport = 2775\n'
        'username = "u"\npassword = "env:SMSGW_TEST_CLI_PASSWORD"\n',
        encoding="utf-8",
    )
    (tmp_path / "data").mkdir()
    return path


def test_keys_create_json_after_db_upgrade(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    env = {"SMSGW_TEST_CLI_PASSWORD": "pw"}
    code, out = run("--config", config, "keys", "create", "--name", "early", "--json", env=env)
    assert code == 1 and "upgrade" in out  # the schema is not there yet
    code, out = run("--config", config, "db", "upgrade", env=env)
    assert code == 0 and "schema empty ->" in out
    code, out = run("--config", config, "keys", "create", "--name", "ops", "--admin", "--json", env=env)
    assert code == 0, out
    created = json.loads(out)
    assert set(created) == {"key", "secret"} and created["key"].startswith("ak_") and len(created["secret"]) >= 32
    code, out = run("--config", config, "keys", "create", "--name", "human", env=env)
    assert code == 0 and "secret:" in out and "shown only now" in out


def test_keys_list_disable_enable(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    env = {"SMSGW_TEST_CLI_PASSWORD": "pw"}
    assert run("--config", config, "db", "upgrade", env=env)[0] == 0
    created = json.loads(run("--config", config, "keys", "create", "--name", "shop", "--json", env=env)[1])
    run("--config", config, "keys", "create", "--name", "ops", "--admin", "--no-text", env=env)
    code, out = run("--config", config, "keys", "list", "--json", env=env)
    listed = json.loads(out)
    assert code == 0 and [k["name"] for k in listed] == ["shop", "ops"]
    assert listed[0]["key"] == created["key"] and not listed[0]["admin"] and listed[1]["admin"]
    assert not listed[1]["text"] and "secret" not in out and created["secret"] not in out
    code, out = run("--config", config, "keys", "disable", created["key"], env=env)
    assert code == 0 and out.strip() == f"{created['key']}: disabled"
    code, out = run("--config", config, "keys", "list", env=env)
    assert code == 0 and "disabled" in out.splitlines()[1] and "active" in out.splitlines()[2]
    code, out = run("--config", config, "keys", "disable", "ak_nope", env=env)
    assert code == 1 and "no API key 'ak_nope'" in out
    assert run("--config", config, "keys", "enable", created["key"], env=env)[0] == 0
    assert not any(k["disabled"] for k in json.loads(run("--config", config, "keys", "list", "--json", env=env)[1]))


def test_config_errors_exit_2(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    assert "SMSGW_TEST_CLI_PASSWORD" not in os.environ
    code, out = run("--config", config, "keys", "create", "--name", "x")
    assert code == 2 and "SMSGW_TEST_CLI_PASSWORD" in out
    code, out = run("--config", str(tmp_path / "missing.toml"), "db", "upgrade")
    assert code == 2 and "not found" in out


# ------------------------------------------------------------------------ API commands
def test_api_command_without_key_exits_2() -> None:
    env = {"SMSGW_KEY": "", "SMSGW_SECRET": ""}
    code, out = run("--url", "http://127.0.0.1:1", "channels", env=env)
    assert code == 2 and "SMSGW_KEY" in out
    code, out = run("--url", "http://127.0.0.1:1", "trace", "x", env=env)
    assert code == 2 and "SMSGW_KEY" in out


def test_unreachable_gateway_exits_1() -> None:
    env = {"SMSGW_KEY": "ak_x", "SMSGW_SECRET": "s"}
    for args in (("channels",), ("send", "--to", "13800138000", "--text", "hi"), ("trace", "x")):
        code, out = run("--url", "http://127.0.0.1:1", *args, env=env)
        assert code == 1 and "cannot reach the gateway" in out, out


def test_send_usage_errors_exit_2() -> None:
    env = {"SMSGW_KEY": "ak_x", "SMSGW_SECRET": "s"}
    code, _ = run("--url", "http://127.0.0.1:1", "send", "--to", "1", env=env)
    assert code == 2
    code, _ = run("--url", "http://127.0.0.1:1", "send", "--to", "1", "--template", "t", "--param", "k", env=env)
    assert code == 2


def _cli(h: Harness, *args: str) -> list[str]:
    return [sys.executable, "-m", "smsgw.cli", "--url", h.base, *args]


def _env(h: Harness, key: tuple[str, str] | None = None) -> dict[str, str]:
    key_id, secret = key or (h.key, h.secret)
    return {**os.environ, "SMSGW_KEY": key_id, "SMSGW_SECRET": secret, "PYTHONPATH": str(Path.cwd())}


async def test_channels_send_and_api_errors_against_a_gateway(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
        with trio.fail_after(30):
            done = await trio.run_process(_cli(h, "channels", "--json"), env=_env(h), capture_stdout=True,
                                          capture_stderr=True, check=False)
            assert done.returncode == 0, done.stderr
            channels = json.loads(done.stdout)
            assert channels[0]["name"] == "smpp-sim" and channels[0]["protocol"] == "smpp"
            done = await trio.run_process(_cli(h, "channels"), env=_env(h), capture_stdout=True, check=False)
            assert done.returncode == 0 and b"smpp-sim" in done.stdout and b"session 0" in done.stdout
            done = await trio.run_process(_cli(h, "send", "--to", NUMBER["smpp"], "--text", "from the cli"),
                                          env=_env(h), capture_stdout=True, check=False)
            assert done.returncode == 0
            message_id = done.stdout.decode().strip()
            assert message_id.isdigit()
            await h.wait_status(message_id, {"delivered"})
            done = await trio.run_process(_cli(h, "status", message_id), env=_env(h), capture_stdout=True,
                                          check=False)
            assert done.returncode == 0 and f"{message_id}  delivered".encode() in done.stdout
            assert b"segment 1: delivered" in done.stdout
            done = await trio.run_process(_cli(h, "send", "--to", NUMBER["smpp"], "--text", "wait", "--wait", "10"),
                                          env=_env(h), capture_stdout=True, check=False)
            assert done.returncode == 0 and b"  delivered  to " in done.stdout, done.stdout
            # the API's refusal is the CLI's failure, with the API's code
            done = await trio.run_process(_cli(h, "channels"), env=_env(h, ("ak_nobody", "x")),
                                          capture_stderr=True, check=False)
            assert done.returncode == 1 and b"401 unknown_key" in done.stderr
            done = await trio.run_process(_cli(h, "trace", "smpp-sim"), env=_env(h, h.new_key()),
                                          capture_stderr=True, check=False)
            assert done.returncode == 1 and b"403 admin_required" in done.stderr
            done = await trio.run_process(_cli(h, "trace", "nope"), env=_env(h), capture_stderr=True, check=False)
            assert done.returncode == 1 and b"404 unknown_channel" in done.stderr


@pytest.mark.parametrize("as_json", [False, True])
async def test_trace_prints_pdus_until_ctrl_c(tmp_path: Path, as_json: bool) -> None:
    async with gateway_with_sims(tmp_path, protocols=("smpp",)) as h:
        args = ["trace", "smpp-sim", *(["--json"] if as_json else [])]
        process = await trio.lowlevel.open_process(_cli(h, *args), env=_env(h), stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE)
        assert process.stdout is not None
        output = b""
        sent = False
        with trio.fail_after(20):
            while b"submit_sm_resp" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, "trace ended early"
                output += chunk
                if not sent and (b"tracing smpp-sim" in output or b'"subscribed"' in output):
                    sent = True
                    await h.send(NUMBER["smpp"], "seen by trace")
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
        lines = [line for line in output.decode().splitlines() if line.strip()]
        if as_json:
            parsed = [json.loads(line) for line in lines]
            submit = next(p for p in parsed if p.get("command") == "submit_sm")
            assert submit["direction"] == "out" and submit["fields"]["text"] == "seen by trace"
        else:
            submit_line = next(line for line in lines if " submit_sm " in line)
            assert " > " in submit_line and '"seen by trace"' in submit_line and "seq=" in submit_line
            assert any(" < submit_sm_resp" in line and "status=0(ESME_ROK)" in line for line in lines)


def test_format_trace_line() -> None:
    line = format_trace_line({"time": 0.25, "session": 1, "direction": "in", "command": "deliver_sm",
                              "sequence": 3, "status": None, "fields": {"source_addr": "13800138000",
                                                                        "text": "hi there", "is_receipt": False}})
    assert line.endswith(f"s1 < {'deliver_sm':<22} seq=3  source_addr=13800138000 text=\"hi there\" is_receipt=false")
    assert "2 PDUs dropped" in format_trace_line({"dropped": 2, "time": 0})
