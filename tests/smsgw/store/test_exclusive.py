"""One daemon per database: the lock ``smsgw serve`` holds, on both backends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from smsgw.store.exclusive import AlreadyRunning, exclusive

ROOT = Path(__file__).resolve().parents[3]

HOLDER = textwrap.dedent("""
    import sys, trio
    from smsgw.store.exclusive import exclusive

    async def main():
        async with exclusive(sys.argv[1]):
            print("holding", flush=True)
            await trio.sleep_forever()

    trio.run(main)
""")


async def test_a_second_holder_is_refused_until_the_first_lets_go(empty_db_url: str) -> None:
    async with exclusive(empty_db_url):
        with pytest.raises(AlreadyRunning, match=r"another smsgw daemon is using .*one daemon per database"):
            async with exclusive(empty_db_url):
                pass  # pragma: no cover
    async with exclusive(empty_db_url):
        pass


async def test_the_lock_dies_with_a_killed_daemon(empty_db_url: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, empty_db_url], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        with pytest.raises(AlreadyRunning):
            async with exclusive(empty_db_url):
                pass  # pragma: no cover
    finally:
        child.kill()
        child.wait()
    with trio.fail_after(10):
        while True:  # PostgreSQL ends the dead client's session a moment later
            try:
                async with exclusive(empty_db_url):
                    return
            except AlreadyRunning:
                await trio.sleep(0.1)


async def test_a_database_in_memory_needs_no_lock() -> None:
    async with exclusive("sqlite://"), exclusive("sqlite://"):
        pass
