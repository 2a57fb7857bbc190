"""Issue 21: hostile repositories and git servers end their job in seconds, never jam it.

The real gateway, analyzer, generator and verifier, cloning from the real git server
(tests/support/gitserver.py). Before issue 21 a text PostgreSQL refused made the
analyzer's commit fail on every delivery, and the job stayed ``analyzing`` for ever.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.fixtures_web import FLASK_APP
from tests.support.stack import rabbit_api

pytestmark = pytest.mark.e2e

# Binary bytes, a NUL among them, as a broken server's error output can hold.
GARBAGE = b"fatal: \xff\xfe\x01\x1b[31m object lost \x00\xc3(\x00 after"


def _padding(n: int) -> str:
    # The analyzer takes a file whose first 8 KiB hold a NUL for binary: put it later.
    return "".join(
        f"# line {i} of a long comment that pushes the NUL past 8 KiB\n" for i in range(n)
    )


def test_a_git_server_breaking_off_mid_pack_ends_the_job(make_stack, git_server) -> None:
    files = {**FLASK_APP, "data.txt": "".join(str(i) for i in range(40_000))}
    url = git_server.create_repo("breaks-off", files, break_pack=GARBAGE)
    stack = make_stack(
        ("gateway", "analyzer", "verifier"), MAX_RETRIES="1", RETRY_BASE_DELAY_MS="200"
    )
    started = time.monotonic()
    job_id = stack.submit(repo_url=url, description="flask app", mode="plan")
    job = stack.wait_job(job_id, timeout=30)
    took = time.monotonic() - started
    assert job["status"] == "failed" and job["stage"] == "analyzer", job
    assert took < 30
    error = job["error"]
    assert "gave up after 2 attempts" in error and "early EOF" in error, error
    assert "\x00" not in error and "Traceback" not in error
    assert "\x1b" not in error, "a terminal escape from the server reached the reason"
    assert _dead_lettered(stack), "the message is not in the dead-letter queue"
    print(f"\nbroken-off clone: failed after {took:.1f}s: {error}")


def _dead_lettered(stack, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = rabbit_api("GET", f"/queues/{stack.iso.name}/autodeploy.dead-letter")
        if dead.get("messages", 0) >= 1:
            return True
        time.sleep(0.3)
    return False


def test_a_repository_with_nul_bytes_in_its_text_is_planned(make_stack, git_server) -> None:
    app = FLASK_APP["app/app.py"]
    assert isinstance(app, str)
    files: dict[str, str | bytes] = {
        **FLASK_APP,
        # NUL bytes past the first 8 KiB of the files the analyzer reads for evidence.
        "app/app.py": _padding(200)
        + app.replace("app = Flask", "app = Flask  # \x00\x00\napp = Flask"),
        "app/requirements.txt": _padding(200) + "flask  # \x00 pinned\n",
        "README.md": _padding(200) + "Run on port 5000 \x00\x01\x02\n",
        # A file name that is not UTF-8 (Python keeps its byte as a lone surrogate).
        "app/caf\udce9.txt": "menu\n",
    }
    url = git_server.create_repo("nul-text", files)
    stack = make_stack(("gateway", "analyzer", "generator", "verifier"))
    started = time.monotonic()
    job_id = stack.submit(repo_url=url, description="flask app", mode="plan")
    job = stack.wait_job(job_id, statuses=("planned",), timeout=30)
    took = time.monotonic() - started
    assert job["status"] == "planned", job["error"]
    assert job["analysis"]["framework"] == "flask"
    stored = json.dumps(job)
    assert "\\u0000" not in stored
    runs = stack.sql(
        "SELECT stage, count(*) AS n FROM stage_runs WHERE job_id = $1::uuid GROUP BY stage",
        job_id,
    )
    assert {r["stage"]: r["n"] for r in runs} == {"analyzer": 1, "generator": 1}
    print(f"\nrepository with NUL bytes: planned after {took:.1f}s")
