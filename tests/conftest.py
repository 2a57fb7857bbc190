"""Shared fixtures: the git server, isolated stacks of the real system."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.gitserver import GitServer
from tests.support.stack import Isolated, Stack


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """A real git smart-HTTP server on loopback, for the whole session."""
    server = GitServer(tmp_path_factory.mktemp("git")).start()
    yield server
    server.stop()


@pytest.fixture
def make_stack(
    tmp_path_factory: pytest.TempPathFactory, git_server: GitServer
) -> Iterator[Callable[..., Stack]]:
    """Start the system on an isolated database + vhost; everything is torn down after."""
    made: list[Stack] = []

    def make(
        services: tuple[str, ...] | None = None, *, standin: bool = False, **env: str
    ) -> Stack:
        iso = Isolated.create()
        env.setdefault("GIT_ALLOWED_HOSTS", git_server.host)
        stack = Stack(
            iso=iso,
            workdir=Path(tmp_path_factory.mktemp("stack")),
            env_overrides=env,
            standin=standin,
        )
        made.append(stack)
        if services is None:
            stack.start()
        else:
            stack.start(services)
        return stack

    yield make
    for stack in made:
        stack.stop()
        stack.iso.drop()
