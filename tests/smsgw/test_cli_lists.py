"""``smsgw blacklist`` and ``smsgw whitelist`` as real subprocesses against an in-process gateway."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

from tests.e2e.harness import Harness, gateway_with_sims, number

POLICY = {"content_review": False, "frequency_limits": True, "whitelist_capacity": 1}


async def smsgw(h: Harness, *args: str, key: tuple[str, str] | None = None) -> tuple[int, str, str]:
    key_id, secret = key or (h.key, h.secret)
    env = {**os.environ, "SMSGW_KEY": key_id, "SMSGW_SECRET": secret, "PYTHONPATH": str(Path.cwd())}
    done = await trio.run_process([sys.executable, "-m", "smsgw.cli", "--url", h.base, *args], env=env,
                                  capture_stdout=True, capture_stderr=True, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_blacklist_and_whitelist_commands(tmp_path: Path) -> None:
    one, two, three = (number("cmpp", i) for i in (1, 2, 3))
    upload = tmp_path / "numbers.csv"
    upload.write_text(f"number,reason\n{two},import\nnonsense,x\n+86{three},\n", encoding="utf-8")
    with trio.fail_after(60):
        async with gateway_with_sims(tmp_path, protocols=("cmpp",), policy=POLICY) as h:
            code, out, _ = await smsgw(h, "blacklist", "add", f"+86 {one}", "--signature", "Shop", "--reason", "asked")
            assert code == 0 and out == f"{one} (Shop): added\n"
            code, out, err = await smsgw(h, "blacklist", "import", str(upload))
            assert code == 0 and out == "added 2, duplicate 0, invalid 1\n"
            assert f"{upload}:3: number: 'nonsense' is not a phone number" in err
            code, out, _ = await smsgw(h, "blacklist", "list")
            assert code == 0 and [line.split()[:2] for line in out.splitlines()[1:]] == [
                [one, "Shop"], [two, "all"], [three, "all"]]
            exported = tmp_path / "export.csv"
            code, _, _ = await smsgw(h, "blacklist", "export", "-o", str(exported))
            assert code == 0
            assert exported.read_text().splitlines() == ["number,signature,reason", f"{one},Shop,asked",
                                                         f"{two},,import", f"{three},,"]
            code, out, _ = await smsgw(h, "blacklist", "remove", two)
            assert code == 0 and out == f"{two}: removed all signatures\n"
            code, _, err = await smsgw(h, "blacklist", "remove", two)
            assert code == 1 and "404 not_found" in err

            code, out, _ = await smsgw(h, "whitelist", "add", one, "--reason", "QA phone")
            assert code == 0 and out == f"{one}: added\n"
            code, _, err = await smsgw(h, "whitelist", "add", two)
            assert code == 1 and "409 whitelist_full" in err
            code, out, _ = await smsgw(h, "whitelist", "list")
            assert code == 0 and out.splitlines()[0] == "1 of 1 places used" and one in out and "QA phone" in out
            code, out, _ = await smsgw(h, "whitelist", "remove", one)
            assert code == 0 and out == f"{one}: removed\n"
            code, _, err = await smsgw(h, "blacklist", "list", key=h.new_key())
            assert code == 1 and "403" in err
