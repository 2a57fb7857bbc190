"""A repository's declared runtime version picks the local base image, named in the job log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.stack import Isolated, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]


def _app(version_file: dict[str, str], runtime: str) -> dict[str, str | bytes]:
    """A Flask (or Express) app whose page says which runtime version serves it."""
    if runtime == "python":
        return {
            **version_file,
            "requirements.txt": "flask\n",
            "app.py": (
                "import platform\nfrom flask import Flask\n\napp = Flask(__name__)\n\n\n"
                "@app.route('/')\ndef index():\n"
                "    return 'python ' + platform.python_version()\n"
            ),
        }
    return {
        **version_file,
        "server.js": (
            "require('http').createServer((q, r) => r.end('node ' + process.versions.node))"
            ".listen(process.env.PORT || 3000, '0.0.0.0');\n"
        ),
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory, git_server):
    """The system as `make dev` runs it: overrides for the labelled local images present."""
    workdir = tmp_path_factory.mktemp("runtime-images")
    overrides = subprocess.run(
        [sys.executable, "scripts/base-image-overrides.py", "--write", str(workdir / "o.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "BASE_IMAGE_OVERRIDES": ""},
    ).stdout.strip()
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=workdir,
        env_overrides={
            "GIT_ALLOWED_HOSTS": git_server.host,
            "VERIFY_TIMEOUT_S": "60",
            "BASE_IMAGE_OVERRIDES": overrides,
        },
    ).start()
    yield stack
    stack.stop()
    iso.drop()


@pytest.mark.parametrize(
    ("name", "files", "runtime", "serves", "log_line"),
    [
        (
            "python-313",
            {".python-version": "3.13\n"},
            "python",
            "python 3.13.",
            "python 3.13 requested; using local image autodeploy-local/python:3.13-slim "
            "(python 3.13.",
        ),
        (
            "python-312",
            {"runtime.txt": "python-3.12.4\n"},
            "python",
            "python 3.13.",
            "the nearest newer",
        ),
        (
            "node-24",
            {"package.json": '{"name": "n", "scripts": {"start": "node server.js"}, '
             '"engines": {"node": ">=24"}}\n'},
            "node",
            "node 24.",
            "node 24 requested; using local image autodeploy-local/node:24-slim (node 24.",
        ),
    ],
)  # fmt: skip
def test_declared_version_builds_on_that_runtime_or_the_nearest_newer(
    stack, git_server, name, files, runtime, serves, log_line
) -> None:
    url = git_server.create_repo(f"runtime-{name}", _app(files, runtime))
    job_id = stack.submit(repo_url=url, description="deploy it")
    try:
        job = stack.wait_job(job_id, timeout=400)
        messages = [line["message"] for line in job["logs"]]
        assert job["status"] == "completed", (job["error"], messages[-15:])
        assert any(log_line in m for m in messages), [m for m in messages if "requested" in m]
        assert httpx.get(job["result"]["url"], timeout=10).text.startswith(serves)
    finally:
        httpx.delete(f"{stack.url}/job/{job_id}")
        stack.wait_job(job_id, statuses=("destroyed",), timeout=120)
