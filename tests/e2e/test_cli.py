"""Issue 7 acceptance 4: `autodeploy submit` against the real system."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.fixtures_web import STATIC_SITE

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _cli(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "--api", stack.url, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        check=False,
    )


def test_submit_follows_the_job_and_prints_the_url(make_stack, git_server) -> None:
    stack = make_stack()
    url = git_server.create_repo("cli-site", STATIC_SITE)
    done = _cli(stack, "submit", url, "--description", "deploy this static site")
    assert done.returncode == 0, done.stdout + done.stderr
    for stage in ("analyz", "generat", "provision", "verif"):
        assert stage in done.stdout.lower()
    urls = [w for w in done.stdout.split() if w.startswith("http://127.0.0.1:") and ".git" not in w]
    deployed = urls[-1]
    assert httpx.get(deployed.rstrip(".,)"), timeout=10).status_code == 200

    cli_repo = {"tool/cli.py": "import argparse\n\nargparse.ArgumentParser().parse_args()\n"}
    rejected = _cli(stack, "submit", git_server.create_repo("cli-cli", cli_repo), "-d", "run it")
    assert rejected.returncode == 2, rejected.stdout + rejected.stderr
    assert "not an HTTP service" in rejected.stdout + rejected.stderr
