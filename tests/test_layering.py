"""The import arrows of docs/architecture.md: protocols/ is sans-IO and stands alone;
smsgw/ and simulators/ use protocols/; smsgw/ never uses simulators/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "protocols": {
        "trio", "anyio", "asyncio", "socket", "selectors", "sqlalchemy", "structlog", "click",
        "time", "random", "secrets", "logging", "threading", "smsgw", "simulators",
    },
    "smsgw": {"simulators"},
    "simulators": {"smsgw"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN[package]) for f in files
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"{package}/ imports what it must not: {offenders}"
