"""Apps that bind loopback unless a platform variable is set deploy healthy on the first attempt."""

from __future__ import annotations

import httpx
import pytest

from tests.analyzer.test_bind_switch import NODE_RENDER, PY_DYNO
from tests.support.stack import Isolated, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, git_server):
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("bind-switch"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host, "VERIFY_TIMEOUT_S": "40"},
    ).start()
    yield stack
    stack.stop()
    iso.drop()


@pytest.mark.parametrize(("name", "files", "variable"), [
    ("node-render", NODE_RENDER, "RENDER"),
    ("python-dyno", PY_DYNO, "DYNO"),
])  # fmt: skip
def test_platform_conditioned_bind_answers_without_a_repair(
    stack, git_server, name, files, variable
) -> None:
    url = git_server.create_repo(f"bind-{name}", files)
    job_id = stack.submit(repo_url=url, description="deploy it")
    try:
        job = stack.wait_job(job_id, timeout=300)
        messages = [line["message"] for line in job["logs"]]
        assert job["status"] == "completed", (job["error"], messages[-15:])
        assert job["analysis"]["description"]["env"][variable] == "1"
        assert "attempts" not in job["result"] or len(job["result"]["attempts"]) <= 1
        assert httpx.get(job["result"]["url"], timeout=10).status_code == 200
    finally:
        httpx.delete(f"{stack.url}/job/{job_id}")
        stack.wait_job(job_id, statuses=("destroyed",), timeout=120)
