"""Issue 2: concurrency limits, crash recovery, fast permanent failures — real processes."""

from __future__ import annotations

import time

import pytest

from tests.support.fixtures_web import FLASK_APP

pytestmark = pytest.mark.e2e


def _max_overlap(runs: list[dict]) -> int:
    """Most analyzer runs in progress at the same instant."""
    edges = []
    for r in runs:
        edges.append((r["started_at"], 1))
        edges.append((r["finished_at"], -1))
    edges.sort(key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


@pytest.mark.parametrize("concurrency", [2, 4])
def test_analyzer_never_holds_more_jobs_than_its_concurrency(make_stack, git_server, concurrency):
    # The git server answers slowly for this repository, so each job stays in the
    # analyzer for over a second: a real slow stage, no test hook in the product.
    url = git_server.create_repo(f"slow-{concurrency}", FLASK_APP, delay_s=1.2)
    stack = make_stack(("gateway", "analyzer", "generator"), ANALYZER_CONCURRENCY=str(concurrency))
    ids = [stack.submit(repo_url=url, description="flask app", mode="plan") for _ in range(10)]
    for job_id in ids:
        job = stack.wait_job(job_id, timeout=120)
        assert job["status"] == "planned", job["error"]
    runs = stack.sql(
        "SELECT started_at, finished_at FROM stage_runs WHERE stage = 'analyzer' ORDER BY id"
    )
    assert len(runs) == 10
    assert _max_overlap(runs) == concurrency


def test_killed_stage_redoes_its_job_exactly_once(make_stack, git_server):
    url = git_server.create_repo("slow-crash", FLASK_APP, delay_s=3)
    stack = make_stack(("gateway", "analyzer", "generator"))
    job_id = stack.submit(repo_url=url, description="flask app", mode="plan")
    deadline = time.monotonic() + 30
    cloning = "SELECT 1 FROM job_logs WHERE job_id = $1::uuid AND message LIKE '%cloning%'"
    while not stack.sql(cloning, job_id):
        assert time.monotonic() < deadline, "the analyzer never started cloning"
        time.sleep(0.05)
    stack.kill("analyzer")  # SIGKILL while the job is inside the analyzer (mid-clone)
    stack.start_service("analyzer")
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "planned", job["error"]

    runs = stack.sql(
        "SELECT stage, outcome, delivery FROM stage_runs WHERE job_id = $1::uuid ORDER BY id",
        job_id,
    )
    analyzer = [r for r in runs if r["stage"] == "analyzer"]
    assert [r["outcome"] for r in analyzer] == ["abandoned", "generating"]
    assert analyzer[1]["delivery"] == 2
    # The generator saw one job.analyzed event: no duplicate hand-off.
    assert [r["stage"] for r in runs].count("generator") == 1
    assert len(stack.sql("SELECT 1 FROM processed_messages")) == 2
    # One set of analyzer lines in the job's log (the interrupted attempt's are superseded).
    messages = [line["message"] for line in job["logs"] if line["service"] == "analyzer"]
    assert sum("cloning" in m for m in messages) == 1, messages
    assert sum("redelivered" in m for m in messages) == 1, messages
    all_lines = stack.sql("SELECT superseded FROM job_logs WHERE job_id = $1::uuid", job_id)
    assert any(r["superseded"] for r in all_lines)  # kept for forensics, hidden by default


def test_missing_repository_fails_fast_at_the_analyzer(make_stack, git_server):
    stack = make_stack(("gateway", "analyzer"))
    started = time.monotonic()
    job_id = stack.submit(repo_url=git_server.url("does-not-exist"), description="app")
    job = stack.wait_job(job_id, timeout=30)
    elapsed = time.monotonic() - started
    assert job["status"] == "failed" and job["stage"] == "analyzer"
    assert "not found" in job["error"]
    assert elapsed < 10, f"took {elapsed:.1f}s: it went through the retry budget"
    assert not any("retrying" in line["message"] for line in job["logs"])


def test_transient_failure_retries_with_backoff_then_dead_letters(make_stack):
    # Nothing listens on this port: connection refused is transient, so it is retried.
    from tests.support.stack import free_port, rabbit_api

    port = free_port()
    stack = make_stack(
        ("gateway", "analyzer", "verifier"),
        GIT_ALLOWED_HOSTS=f"127.0.0.1:{port}",
        MAX_RETRIES="2",
        RETRY_BASE_DELAY_MS="300",
    )
    job_id = stack.submit(repo_url=f"http://127.0.0.1:{port}/gone.git", description="app")
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "failed" and job["stage"] == "analyzer"
    assert "gave up after 3 attempts" in job["error"]
    retries = [line for line in job["logs"] if "retrying in" in line["message"]]
    assert [r["message"].split("retrying in ")[1] for r in retries] == ["0.3s", "0.6s"]
    deadline = time.monotonic() + 10
    while True:
        queue = rabbit_api("GET", f"/queues/{stack.iso.name}/autodeploy.dead-letter")
        if queue.get("messages", 0) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert queue["messages"] == 1
    assert rabbit_api("GET", f"/queues/{stack.iso.name}/autodeploy.analyzer")["messages"] == 0


def test_a_cli_is_rejected_with_a_reason_the_user_can_act_on(make_stack, git_server):
    files = {
        "pyproject.toml": '[project]\nname = "tool"\ndependencies = ["click"]\n'
        '[project.scripts]\ntool = "tool.cli:main"\n',
        "tool/__init__.py": "",
        "tool/cli.py": "import click\n\n\n@click.command()\ndef main():\n    click.echo('hi')\n",
    }
    stack = make_stack(("gateway", "analyzer"))
    job = stack.wait_job(
        stack.submit(repo_url=git_server.create_repo("a-cli", files), description="deploy it"),
        timeout=30,
    )
    assert job["status"] == "rejected" and job["stage"] == "analyzer"
    assert "not an HTTP service" in job["error"] and "CLI" in job["error"]
    assert job["analysis"]["verdict"] == "not-a-service"


def test_clone_limits_fail_the_job_with_the_limit_named(make_stack, git_server):
    files = {f"pages/p{i}.html": f"<p>{i}</p>\n" for i in range(12)}
    files["index.html"] = "<h1>many files</h1>\n"
    url = git_server.create_repo("too-many-files", files)
    stack = make_stack(("gateway", "analyzer"), GIT_MAX_FILES="10")
    job = stack.wait_job(stack.submit(repo_url=url, description="site"), timeout=30)
    assert job["status"] == "failed" and job["stage"] == "analyzer"
    assert "more than 10 files" in job["error"] and "GIT_MAX_FILES" in job["error"]
    leftovers = list((stack.workdir / "work").glob("analyzer-*"))
    assert leftovers == []  # the refused clone is removed
