"""Issue 8 point 3 (job level): hostile repositories fail or are handled, leaving nothing."""

from __future__ import annotations

import os

import pytest

from tests.support.fixtures_web import STATIC_SITE
from tests.support.gitserver import Symlink

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory, git_server):
    from tests.support.stack import Isolated, Stack

    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("hostile"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host, "GIT_MAX_REPO_MB": "2"},
    ).start(["gateway", "analyzer", "generator"])
    yield stack
    stack.stop()
    iso.drop()


def _run(stack, url: str) -> dict:
    job = stack.wait_job(
        stack.submit(repo_url=url, description="deploy it", mode="plan"), timeout=60
    )
    work = stack.workdir / "work"
    assert not work.exists() or os.listdir(work) == [], "the workspace kept files"
    return job


def test_symlink_to_etc_passwd_is_never_followed(stack, git_server) -> None:
    url = git_server.create_repo(
        "symlink-passwd", {**STATIC_SITE, "passwd.txt": Symlink("/etc/passwd")}
    )
    job = _run(stack, url)
    assert job["status"] == "planned", job["error"]
    everything = str(stack.sql("SELECT j::text FROM jobs j")) + str(
        stack.sql("SELECT a::text FROM artifacts a")
    )
    assert "root:x:0:0" not in everything


def test_hook_scripts_in_the_repository_never_run(stack, git_server, tmp_path) -> None:
    marker = tmp_path / "hook-ran"
    hook = f"#!/bin/sh\ntouch {marker}\n"
    url = git_server.create_repo(
        "with-hooks",
        {**STATIC_SITE, ".husky/post-checkout": hook, ".githooks/post-checkout": hook},
    )
    assert _run(stack, url)["status"] == "planned"
    assert not marker.exists()


def test_oversized_repository_is_refused_with_the_limit(stack, git_server) -> None:
    url = git_server.create_repo("huge", {**STATIC_SITE, "blob.bin": os.urandom(3 * 2**20)})
    job = _run(stack, url)
    assert job["status"] == "failed" and "GIT_MAX_REPO_MB" in job["error"]


def test_empty_repository_fails_clearly(stack, git_server) -> None:
    job = _run(stack, git_server.create_repo("empty", {}, empty=True))
    assert job["status"] == "failed" and "is empty" in job["error"]


def test_binary_only_repository_is_rejected_with_a_reason(stack, git_server) -> None:
    url = git_server.create_repo("binaries", {"a.bin": os.urandom(2048), "b.dat": b"\x00" * 99})
    job = _run(stack, url)
    assert job["status"] == "rejected" and "not an HTTP service" in job["error"]


def test_submodules_are_never_fetched(stack, git_server, tmp_path) -> None:
    import subprocess

    inner = git_server.create_repo("inner-secret", {"marker.txt": "INNER-SUBMODULE-CONTENT\n"})
    work = tmp_path / "outer"
    from tests.support.gitserver import commit_files

    commit_files(work, dict(STATIC_SITE))
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "PATH": os.environ["PATH"]}
    subprocess.run(
        [
            "git",
            "-C",
            str(work),
            "-c",
            "protocol.allow=always",
            "submodule",
            "add",
            "-q",
            inner,
            "vendor/inner",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    commit_files(work, {}, message="add a submodule")
    bare = git_server.root / "with-submodule.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    git_server.requests.clear()
    job = _run(stack, git_server.url("with-submodule"))
    assert job["status"] == "planned", job["error"]
    assert not [r for r in git_server.requests if "inner-secret" in r[1]], "submodule fetched"
    assert "INNER-SUBMODULE-CONTENT" not in str(stack.sql("SELECT a::text FROM artifacts a"))
