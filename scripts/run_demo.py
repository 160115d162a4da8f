"""``make run``: the bundled simulators and the gateway on channels.toml, a demo key, and
how to send a first message. Ctrl-C stops both cleanly.

The simulators run as their own process (``smsc-sim all``): the daemon never imports them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = ROOT / "channels.toml"
KEY_FILE = ROOT / "var" / "demo-key.json"


def run(*args: str) -> str:
    result = subprocess.run([str(BIN / "smsgw"), "--config", str(CONFIG), *args], capture_output=True, text=True)
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


def main() -> int:
    run("db", "upgrade")
    key = demo_key()
    sims = subprocess.Popen([str(BIN / "smsc-sim"), "all", "--config", str(CONFIG), "--dlr-delay", "1"],
                            stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    gateway = subprocess.Popen([str(BIN / "smsgw"), "--config", str(CONFIG), "serve"])
    time.sleep(1.5)
    print(f"""
smsgw is running: HTTP API on http://127.0.0.1:8080, simulators on 2775 (SMPP), 7890 (CMPP), 8890 (SMGP).
A demo API key (admin) is in {KEY_FILE.relative_to(ROOT)}. In another terminal:

    export SMSGW_KEY={key['key']} SMSGW_SECRET={key['secret']}
    .venv/bin/smsgw send --to 13800138000 --text "您的验证码是123456"
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
