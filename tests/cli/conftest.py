"""Fixtures for the CLI: a scripted fake gateway, and the CLI run in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from services.cli.main import main
from tests.cli.fakegateway import FakeGateway


@dataclass(frozen=True)
class Run:
    """What one CLI invocation did."""

    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own settings must not leak into what the tests see.
    for name in ("AUTODEPLOY_API", "AUTODEPLOY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    """A fake gateway with no token required."""
    server = FakeGateway().start()
    yield server
    server.stop()


@pytest.fixture
def cli(gateway: FakeGateway, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run `autodeploy --api <fake> --poll-interval 0.01 ARGS…` in-process."""

    def run(*args: str, api: str | None = None) -> Run:
        capsys.readouterr()
        code = main(["--api", api or gateway.url, "--poll-interval", "0.01", *args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
