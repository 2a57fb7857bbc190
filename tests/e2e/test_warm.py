"""Issue 25, warm rebuilds: a revision reuses its app's clone, bundle and dependency layers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fixtures_web import FLASK_APP
from tests.support.gitserver import GitServer, commit_files
from tests.support.stack import Isolated, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, git_server: GitServer) -> Iterator[Stack]:
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("warm"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host, "VERIFY_TIMEOUT_S": "30"},
    ).start()
    yield stack
    stack.stop()
    iso.drop()


def _messages(job: dict[str, Any]) -> list[str]:
    return [str(line["message"]) for line in job["logs"]]


def _redeploy(stack: Stack, name: str) -> dict[str, Any]:
    queued = httpx.post(f"{stack.url}/apps/{name}/redeploy", timeout=10)
    assert queued.status_code == 202, queued.text
    job = stack.wait_job(str(queued.json()["job_id"]), timeout=300)
    assert job["status"] == "completed", job["error"]
    return job


def test_revisions_fetch_into_the_kept_clone_reuse_the_bundle_and_the_dependency_layer(
    stack: Stack, git_server: GitServer
) -> None:
    url = git_server.create_repo("warm-shop", FLASK_APP)
    first = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert first["status"] == "completed", first["error"]
    name = first["result"]["app"]["name"]
    app_id = stack.iso.sql("SELECT id FROM apps WHERE name = $1", name)[0]["id"]
    kept = stack.workdir / "work" / "kept" / str(app_id)
    assert (kept / "HEAD").exists()  # the first revision's clone is kept for the next

    # The same commit again: fetched into the kept clone. (Its bundle is checked again:
    # a revision's request names its target, so its DEPLOY.md gives one more reason.)
    again = _redeploy(stack, name)
    said = _messages(again)
    assert any("fetched into the app's kept clone" in m for m in said), said
    assert any("checked out from the app's kept clone" in m for m in said), said
    served = httpx.get(again["result"]["app"]["url"], timeout=10).text
    assert "hello from flask" in served

    # A source-only change: the dependency layer comes from the engine's cache.
    work = git_server.root / ".work" / "warm-shop"
    source = str(FLASK_APP["app/app.py"]).replace("hello from flask", "hello, warm")
    commit_files(work, {"app/app.py": source}, "new body")
    subprocess.run(
        ["git", "push", "-q", str(git_server.root / "warm-shop.git"), "main"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    changed = _redeploy(stack, name)
    said = _messages(changed)
    # The analysis did not change, so neither did the files: the served bundle is reused.
    assert any("its validated bundle reused" in m for m in said), said
    assert not any("bundle validated" in m for m in said), said
    install = next(i for i, m in enumerate(said) if "pip install" in m and "requirements" in m)
    assert "Using cache" in said[install + 1], said[install : install + 3]
    assert "hello, warm" in httpx.get(changed["result"]["app"]["url"], timeout=10).text

    # Deleting the app removes its kept clone.
    assert httpx.delete(f"{stack.url}/apps/{name}", timeout=10).status_code == 202
    assert stack.wait_job(changed["id"], statuses=("destroyed",), timeout=120)["status"] == (
        "destroyed"
    )
    assert not kept.exists()
