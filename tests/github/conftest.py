"""A GitHub stand-in (REST + real git + Pages site) and a client pointed at it."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.provisioner.github import GitHubClient
from services.provisioner.gitpush import GitAuthor
from tests.support.github_stub import GitHubStub
from tests.support.gitserver import GitServer

AUTHOR = GitAuthor("autodeploy", "autodeploy@example.test")


@pytest.fixture
def token() -> str:
    """A fresh token per test, easy to grep for."""
    return f"ghp_{secrets.token_hex(18)}"


@pytest.fixture
def stub(git_server: GitServer, tmp_path: Path, token: str) -> Iterator[GitHubStub]:
    """GitHub for one user, its git remotes on the session's real git server."""
    with GitHubStub(git_server, tmp_path / "site", token=token) as github:
        yield github


class Sleeps(list[float]):
    """Records the waits the client asks for, without waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(stub: GitHubStub, token: str) -> AsyncIterator[GitHubClient]:
    """A client for the stub that really sleeps (polling tests use short delays)."""
    async with GitHubClient(token, base_url=stub.base_url) as github:
        yield github


@pytest.fixture
def git_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Log every git command line the product runs (a wrapper first on PATH)."""
    real = shutil.which("git")
    assert real is not None
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "git-argv.log"
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return log
