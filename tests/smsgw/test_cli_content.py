"""``smsgw signatures|templates …``, ``smsgw send --template`` and ``smsgw keys create --no-text``,
run as real subprocesses against an in-process gateway with content review on."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import trio
from click.testing import CliRunner
from sqlalchemy import select

from smsgw.cli import main
from smsgw.keys import load_key
from smsgw.store.engine import make_engine
from smsgw.store.schema import api_keys
from tests.e2e.harness import NUMBER, Harness, gateway_with_sims

REVIEW = {"content_review": True, "frequency_limits": False}


async def _cli(h: Harness, key: tuple[str, str], *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "SMSGW_KEY": key[0], "SMSGW_SECRET": key[1], "PYTHONPATH": str(Path.cwd())}
    done = await trio.run_process([sys.executable, "-m", "smsgw.cli", "--url", h.base, *args], env=env,
                                  capture_stdout=True, capture_stderr=True, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_register_decide_list_and_send_by_template(tmp_path: Path) -> None:
    async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=REVIEW) as h:
        with trio.fail_after(60):
            admin, user = (h.key, h.secret), h.new_key()
            code, out, err = await _cli(h, user, "signatures", "create", "--name", "测试科技", "--company",
                                        "测试科技有限公司", "--licence", "91310000MA1K000000", "--json")
            assert code == 0, err
            signature = json.loads(out)
            assert signature["status"] == "pending"
            code, out, err = await _cli(h, user, "templates", "create", "--name", "code", "--kind", "verification",
                                        "--content", "您的验证码是{code}，5分钟内有效。")
            assert code == 0 and "pending (variables: code)" in out, err
            template_id = out.split()[1].rstrip(":")

            code, _, err = await _cli(h, user, "templates", "approve", template_id)
            assert code == 1 and "403 admin_required" in err
            code, _, err = await _cli(h, admin, "templates", "reject", template_id)
            assert code == 2 and "--reason" in err
            code, _, err = await _cli(h, admin, "templates", "approve", "abc")
            assert code == 2
            code, _, err = await _cli(h, user, "templates", "create", "--name", "bad", "--kind", "notification",
                                      "--content", "订单{order")
            assert code == 1 and "400 invalid_template" in err and "not closed" in err

            code, out, _ = await _cli(h, admin, "templates", "approve", template_id)
            assert code == 0 and "approved" in out
            code, out, _ = await _cli(h, admin, "signatures", "approve", signature["id"], "--json")
            assert code == 0 and json.loads(out)["status"] == "approved"

            code, out, _ = await _cli(h, admin, "signatures", "list")
            header, row = out.splitlines()
            assert header.split()[:3] == ["ID", "NAME", "STATUS"] and "测试科技" in row and "approved" in row
            code, out, _ = await _cli(h, user, "templates", "list", "--status", "approved", "--json")
            assert [t["id"] for t in json.loads(out)] == [template_id]
            code, out, _ = await _cli(h, user, "templates", "list", "--status", "pending")
            assert out.splitlines()[1:] == []

            send = ("send", "--to", NUMBER["cmpp"], "--signature", "测试科技", "--template", template_id)
            code, out, err = await _cli(h, user, *send, "--param", "code=123456")
            assert code == 0, err
            found = await h.wait_status(out.strip(), {"delivered"})
            assert found["to"] == NUMBER["cmpp"]
            code, _, err = await _cli(h, user, *send, "--param", "code=1", "--param", "extra=2")
            assert code == 1 and "400 unexpected_param" in err

            code, out, _ = await _cli(h, admin, "signatures", "reject", signature["id"], "--reason", "资质过期")
            assert code == 0 and "rejected (资质过期)" in out
            code, _, err = await _cli(h, user, *send, "--param", "code=123456")
            assert code == 1 and "403 signature_not_approved" in err


def test_keys_create_no_text(tmp_path: Path) -> None:
    config = tmp_path / "channels.toml"
    config.write_text('[gateway]\ndatabase = "sqlite:///smsgw.db"\n\n[[channel]]\nname = "a"\nprotocol = "smpp"\n'
                      'host = "127.0.0.1"\nport = 2775\nusername = "u"\npassword = "p"\n', encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    made = {}
    for flag in ("--no-text", "--text"):
        result = runner.invoke(main, ["--config", str(config), "keys", "create", "--name", "x", flag, "--json"])
        assert result.exit_code == 0, result.output
        made[flag] = json.loads(result.output)["key"]
    engine = make_engine(f"sqlite:///{tmp_path / 'smsgw.db'}", pool_size=1)
    with engine.connect() as conn:
        assert len(conn.execute(select(api_keys.c.id)).all()) == 2
        keys = {flag: load_key(conn, key_id) for flag, key_id in made.items()}
    engine.dispose()
    assert keys["--no-text"] is not None and keys["--no-text"].allow_text is False
    assert keys["--text"] is not None and keys["--text"].allow_text is True
