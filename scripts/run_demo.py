"""``make run``: the bundled simulators and the gateway on channels.toml, a demo key, an approved
demo signature and template, and how to send a first message. Ctrl-C stops both cleanly.

The simulators run as their own process (``smsc-sim all``): the daemon never imports them.
Content review is on in channels.toml, so a message needs an approved signature and template:
the demo registers them with the CLI (the demo key is an admin and approves them itself) and
finds them again on the next run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = ROOT / "channels.toml"
KEY_FILE = ROOT / "var" / "demo-key.json"
SIGNATURE = "演示科技"
TEMPLATE = "您的验证码是{code}，5分钟内有效。"


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([str(BIN / "smsgw"), "--config", str(CONFIG), *args], capture_output=True, text=True,
                            env=env)
    if result.returncode != 0:
        sys.exit(f"smsgw {' '.join(args)} failed:\n{result.stderr or result.stdout}")
    return result.stdout


def demo_key() -> dict[str, str]:
    if KEY_FILE.exists():
        return json.loads(KEY_FILE.read_text())
    key = json.loads(run("keys", "create", "--name", "demo", "--admin", "--json"))
    KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    KEY_FILE.write_text(json.dumps(key))
    KEY_FILE.chmod(0o600)
    return key


def wait_healthy(gateway: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and gateway.poll() is None:
        try:
            with urllib.request.urlopen("http://127.0.0.1:8080/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway did not come up on http://127.0.0.1:8080 (see its log above)")


def demo_content(key: dict[str, str]) -> str:
    """The demo signature and verification template, registered and approved once; the template id."""
    env = {**os.environ, "SMSGW_KEY": key["key"], "SMSGW_SECRET": key["secret"]}
    signatures = json.loads(run("signatures", "list", "--json", env=env))
    signature = next((s for s in signatures if s["name"] == SIGNATURE), None)
    if signature is None:
        signature = json.loads(run("signatures", "create", "--name", SIGNATURE, "--company", "演示科技有限公司",
                                   "--purpose", "smsgw demo", "--json", env=env))
    if signature["status"] != "approved":
        run("signatures", "approve", signature["id"], env=env)
    templates = json.loads(run("templates", "list", "--json", env=env))
    template = next((t for t in templates if t["content"] == TEMPLATE and t["key_id"] == key["key"]), None)
    if template is None:
        template = json.loads(run("templates", "create", "--name", "demo-code", "--kind", "verification",
                                  "--content", TEMPLATE, "--json", env=env))
    if template["status"] != "approved":
        run("templates", "approve", template["id"], env=env)
    return str(template["id"])


def main() -> int:
    run("db", "upgrade")
    key = demo_key()
    sims = subprocess.Popen([str(BIN / "smsc-sim"), "all", "--config", str(CONFIG), "--dlr-delay", "1"],
                            stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    gateway = subprocess.Popen([str(BIN / "smsgw"), "--config", str(CONFIG), "serve"])
    try:
        wait_healthy(gateway)
        template_id = demo_content(key)
    except BaseException:
        for process in (gateway, sims):
            process.terminate()
            process.wait(timeout=15)
        raise
    print(f"""
smsgw is running: HTTP API on http://127.0.0.1:8080, simulators on 2775 (SMPP), 7890 (CMPP), 8890 (SMGP).
A demo API key (admin) is in {KEY_FILE.relative_to(ROOT)}; the signature 【{SIGNATURE}】 and the verification
template {template_id} "{TEMPLATE}" are approved. In another terminal:

    export SMSGW_KEY={key['key']} SMSGW_SECRET={key['secret']}
    .venv/bin/smsgw send --to 13800138000 --signature {SIGNATURE} --template {template_id} --param code=123456
    .venv/bin/smsgw send --to 13900139000 --text "【{SIGNATURE}】您的验证码是654321，5分钟内有效。"
    .venv/bin/smsgw signatures list
    .venv/bin/smsgw templates list
    .venv/bin/smsgw channels
    curl -s http://127.0.0.1:8080/metrics | grep smsgw_messages_final

Ctrl-C stops the gateway and the simulators.
""", flush=True)
    try:
        gateway.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in (gateway, sims):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (gateway, sims):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return gateway.returncode or 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
