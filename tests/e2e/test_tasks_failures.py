"""Issue 22: the evaluator always hears back, in time, whatever goes wrong on the way.

An evaluator that hears nothing scores zero. Each path here (an LLM with no usable
answer, a Pages site that never goes live, no Chromium, a round 2 with no known round 1)
must end with exactly one delivered callback (after the spec's retries: the evaluator
answers 500 first) and the job's record of it. Outside parties are local stand-ins.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.github_stub import GitHubStub
from tests.support.openai_stub import OpenAIStub, Status, json_reply
from tests.support.task_fixtures import Receiver, site_manifest, task_body, tasks_env

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SECRET = "task-secret-failures-77aa"
LLM_KEY = "sk-tasks-failures-0123456789"
GH_TOKEN = "ghp_" + "fail0task" * 4
NEVER = 10**9  # polls before the stand-in Pages site answers: never


def _post(stack, body: dict) -> str:
    answer = httpx.post(f"{stack.url}/tasks", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["job_id"])


def _finished(stack, job_id: str, timeout: float = 180) -> dict:
    stack.wait_job(job_id, timeout=timeout)
    return dict(httpx.get(f"{stack.url}/tasks/{job_id}", timeout=10).json())


def _assert_called_back_once(receiver: Receiver, task: dict) -> dict:
    """One delivered callback after one refused attempt, naming what was published."""
    assert len(receiver.calls) == 2 and len(receiver.delivered) == 1, receiver.calls
    assert task["status"] == "completed", (task["error"], [x["message"] for x in task["logs"]])
    assert task["callback_delivered"] is True
    assert [a["status"] for a in task["callback_attempts"]] == [500, 200]
    payload = receiver.delivered[0][2]
    assert payload["repo_url"] == task["repo_url"] and task["repo_url"]
    assert payload["commit_sha"] == task["commit_sha"] and len(task["commit_sha"]) == 40
    assert payload["pages_url"] == task["pages_url"] and task["pages_url"]
    return dict(payload)


def test_unusable_llm_publishes_the_labelled_placeholder_and_calls_back(
    make_stack, git_server, tmp_path
):
    with (
        GitHubStub(git_server, tmp_path / "site", token=GH_TOKEN) as github,
        OpenAIStub(api_key=LLM_KEY) as llm,
    ):
        stack = make_stack(**tasks_env(github, llm, secret=SECRET), CALLBACK_FIRST_DELAY_S="0.2")
        # The endpoint refuses every request: no site will come from it.
        llm.push(*[Status(400, "model not found")] * 6)
        receiver = Receiver(failures=1)
        job_id = _post(stack, task_body(SECRET, receiver.url, 1, "Show total sales"))
        task = _finished(stack, job_id)
        _assert_called_back_once(receiver, task)
        assert "no usable site" in (task["placeholder"] or "")
        page = httpx.get(task["pages_url"]).text
        assert "Placeholder page." in page and "Show total sales" in page
        assert "data.csv" in page  # the attachments are listed
        files = {f["path"] for f in httpx.get(f"{stack.url}/job/{job_id}/artifacts").json()}
        assert {"index.html", "LICENSE", "README.md", "data.csv"} <= files
        readme = httpx.get(task["pages_url"] + "README.md").text
        assert "Placeholder" in readme and "no usable site" in readme


def test_pages_never_live_calls_back_before_the_deadline_with_the_expected_url(
    make_stack, git_server, tmp_path
):
    deadline_s = 45.0
    with (
        GitHubStub(git_server, tmp_path / "site", token=GH_TOKEN, site_delay_polls=NEVER) as github,
        OpenAIStub(api_key=LLM_KEY) as llm,
    ):
        stack = make_stack(
            **tasks_env(github, llm, secret=SECRET),
            CALLBACK_FIRST_DELAY_S="0.2",
            CALLBACK_DEADLINE_S=str(deadline_s),
        )
        llm.push(json_reply(site_manifest("total-sales", "Total: 200")))
        receiver = Receiver(failures=1)
        posted = time.monotonic()
        job_id = _post(stack, task_body(SECRET, receiver.url, 1, "Show total sales"))
        task = _finished(stack, job_id, timeout=deadline_s + 30)
        payload = _assert_called_back_once(receiver, task)
        # The whole round 1 (LLM, push, Pages wait, callback) fits in the round's deadline.
        assert receiver.delivered[0][0] - posted < deadline_s
        name = task["repo_url"].rstrip("/").split("/")[-1]
        assert payload["pages_url"] == github.pages_url(name)
        assert task["pages_live"] is False
        assert "not live" in (task["checks_not_run"] or "")
        assert github.repos[name].pages is not None  # Pages was asked for all the same


def test_missing_chromium_still_calls_back_and_records_why(make_stack, git_server, tmp_path):
    with (
        GitHubStub(git_server, tmp_path / "site", token=GH_TOKEN) as github,
        OpenAIStub(api_key=LLM_KEY) as llm,
    ):
        stack = make_stack(
            **tasks_env(github, llm, secret=SECRET),
            CALLBACK_FIRST_DELAY_S="0.2",
            CHROMIUM_PATH=str(tmp_path / "no-such-chromium"),
        )
        llm.push(json_reply(site_manifest("total-sales", "Total: 200")))
        receiver = Receiver(failures=1)
        job_id = _post(stack, task_body(SECRET, receiver.url, 1, "Show total sales"))
        task = _finished(stack, job_id)
        _assert_called_back_once(receiver, task)
        assert "could not run" in (task["checks_not_run"] or "")
        assert "no-such-chromium" in task["checks_not_run"]
        assert task["checks"] == []


def test_round_two_without_round_one_publishes_a_new_repository_once(
    make_stack, git_server, tmp_path
):
    with (
        GitHubStub(git_server, tmp_path / "site", token=GH_TOKEN) as github,
        OpenAIStub(api_key=LLM_KEY) as llm,
    ):
        stack = make_stack(**tasks_env(github, llm, secret=SECRET), CALLBACK_FIRST_DELAY_S="0.2")
        llm.push(json_reply(site_manifest("total-sales", "Total: 200 (round 2)")))
        receiver = Receiver(failures=1)
        body = task_body(SECRET, receiver.url, 2, "Also say it is round 2")
        job_id = _post(stack, body)
        task = _finished(stack, job_id)
        _assert_called_back_once(receiver, task)
        assert receiver.delivered[0][2]["round"] == 2
        # The evaluator posts the same task, round and nonce again (no Idempotency-Key).
        assert _post(stack, body) == job_id
        time.sleep(1)
        assert len(github.repos) == 1
        assert task["repo_url"].endswith("/" + next(iter(github.repos)))
        logs = " ".join(line["message"] for line in task["logs"])
        assert "no published earlier round" in logs and "new repository" in logs
        assert stack.sql("SELECT count(*) AS n FROM jobs WHERE kind = 'task'")[0]["n"] == 1
