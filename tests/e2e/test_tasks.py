"""Issue 6: POST /tasks → an LLM-written site on (stand-in) GitHub Pages → checks → callback.

Every outside party is a local stand-in speaking the real protocol: the OpenAI
Chat Completions API (real `openai` client), GitHub's REST API (documented shapes) with
its git remotes on a real smart-HTTP git server and its Pages host, and the evaluator's
callback receiver.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.support.github_stub import GitHubStub
from tests.support.openai_stub import OpenAIStub, json_reply
from tests.support.task_fixtures import Receiver, task_body, tasks_env
from tests.support.task_fixtures import site_manifest as _manifest

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

SECRET = "task-secret-0f9e8d7c6b5a"
LLM_KEY = "sk-tasks-e2e-0123456789abcdef"
GH_TOKEN = "ghp_" + "e2e0task" * 4


def _task(receiver: Receiver, round_: int, brief: str) -> dict:
    return task_body(SECRET, receiver.url, round_, brief)


def test_brief_to_pages_round_one_and_two_with_callbacks(make_stack, git_server, tmp_path):
    with (
        GitHubStub(git_server, tmp_path / "site", token=GH_TOKEN) as github,
        OpenAIStub(api_key=LLM_KEY) as llm,
    ):
        stack = make_stack(
            **tasks_env(github, llm, secret=SECRET),
            CALLBACK_FIRST_DELAY_S="0.2",
            PAGES_TIMEOUT_S="60",
        )
        receiver = Receiver(failures=2)
        llm.push(json_reply(_manifest("total-sales", "Total: 200")))
        answer = httpx.post(f"{stack.url}/tasks", json=_task(receiver, 1, "Show total sales"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "queued"
        job_id = answer.json()["job_id"]
        job = stack.wait_job(job_id, timeout=180)
        assert job["status"] == "completed", (
            job["error"],
            [x["message"] for x in job["logs"]][-12:],
        )

        task = httpx.get(f"{stack.url}/tasks/{job_id}").json()
        assert task["checks"][0]["status"] == "pass"
        assert httpx.get(task["pages_url"]).text.count("id='total-sales'") == 1
        # Three callback attempts with growing delays, the exact payload, JSON.
        assert len(receiver.calls) == 3
        gaps = [b[0] - a[0] for a, b in zip(receiver.calls, receiver.calls[1:], strict=False)]
        assert gaps[1] > gaps[0] * 1.5, gaps
        ctype, payload = receiver.calls[-1][1], receiver.calls[-1][2]
        assert ctype == "application/json"
        assert payload == {
            "email": "student@example.com",
            "task": "sum-of-sales",
            "round": 1,
            "nonce": "nonce-1",
            "repo_url": task["repo_url"],
            "commit_sha": task["commit_sha"],
            "pages_url": task["pages_url"],
        }
        repo_files = {f["path"] for f in httpx.get(f"{stack.url}/job/{job_id}/artifacts").json()}
        assert {"index.html", "LICENSE", "README.md", ".nojekyll", "data.csv"} <= repo_files

        # Round 2 revises the same repository with a second commit.
        receiver2 = Receiver(failures=0)
        llm.push(json_reply(_manifest("total-sales", "Total: 200 (revised)")))
        job2_id = httpx.post(
            f"{stack.url}/tasks", json=_task(receiver2, 2, "Also say it is revised")
        ).json()["job_id"]
        job2 = stack.wait_job(job2_id, timeout=180)
        assert job2["status"] == "completed", job2["error"]
        task2 = httpx.get(f"{stack.url}/tasks/{job2_id}").json()
        assert task2["repo_url"] == task["repo_url"]
        assert task2["commit_sha"] != task["commit_sha"]
        assert receiver2.calls[-1][2]["round"] == 2
        assert receiver2.calls[-1][2]["commit_sha"] == task2["commit_sha"]
        bare = github.bare_path(task["repo_url"].rstrip("/").split("/")[-1])
        history = subprocess.run(
            ["git", "-C", str(bare), "log", "--format=%H", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert history[:2] == [task2["commit_sha"], task["commit_sha"]]

        # The secret, the GitHub token and the LLM key are nowhere.
        everything = stack.all_logs() + json.dumps(job, default=str) + json.dumps(job2, default=str)
        everything += stack.all_rows_text()  # every table, whatever it is
        pushed = subprocess.run(
            ["git", "-C", str(bare), "log", "-p", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for secret in (SECRET, GH_TOKEN, LLM_KEY):
            assert secret not in everything and secret not in pushed


def test_failing_browser_check_triggers_a_repair_round(make_stack, git_server, tmp_path):
    with (
        GitHubStub(git_server, tmp_path / "site", token=GH_TOKEN) as github,
        OpenAIStub(api_key=LLM_KEY) as llm,
    ):
        stack = make_stack(**tasks_env(github, llm, secret=SECRET), CALLBACK_FIRST_DELAY_S="0.1")
        receiver = Receiver(failures=0)
        # The first site lacks #total-sales; the repair round's site has it.
        llm.push(
            json_reply(_manifest("grand-total", "Total: 200")),
            json_reply(_manifest("total-sales", "Total: 200")),
        )
        body = {**_task(receiver, 1, "Show total sales"), "task": "repair-me"}
        job_id = httpx.post(f"{stack.url}/tasks", json=body).json()["job_id"]
        job = stack.wait_job(job_id, timeout=180)
        assert job["status"] == "completed", job["error"]
        messages = [line["message"] for line in job["logs"]]
        assert any("check fail" in m for m in messages)
        assert any("repairing the site for attempt 2" in m for m in messages)
        task = httpx.get(f"{stack.url}/tasks/{job_id}").json()
        assert task["checks"][0]["status"] == "pass"
        repair_prompt = json.dumps(llm.requests[-1].body)
        assert "total-sales" in repair_prompt  # the failed check went back to the LLM
        assert len(receiver.calls) == 1 and receiver.calls[0][2]["commit_sha"] == task["commit_sha"]


def test_without_github_the_site_goes_to_any_git_remote_and_a_local_preview(make_stack, tmp_path):
    from tests.support.gitserver import GitServer

    remote = GitServer(tmp_path / "remote", auto_create=True).start()
    try:
        with OpenAIStub(api_key=LLM_KEY) as llm:
            stack = make_stack(
                TASK_SECRET=SECRET,
                OPENAI_API_KEY=LLM_KEY,
                OPENAI_BASE_URL=llm.base_url,
                PAGES_GIT_REMOTE=remote.base_url,
                GIT_ALLOWED_HOSTS=remote.host,
                CALLBACK_ALLOWED_HOSTS="127.0.0.1",
                CALLBACK_FIRST_DELAY_S="0.1",
            )
            receiver = Receiver(failures=0)
            llm.push(json_reply(_manifest("total-sales", "Total: 200")))
            body = {**_task(receiver, 1, "Show total sales"), "task": "local-site"}
            job_id = httpx.post(f"{stack.url}/tasks", json=body).json()["job_id"]
            job = stack.wait_job(job_id, timeout=180)
            assert job["status"] == "completed", job["error"]
            task = httpx.get(f"{stack.url}/tasks/{job_id}").json()
            assert task["repo_url"].startswith(remote.base_url)
            assert "id='total-sales'" in httpx.get(task["pages_url"]).text
            assert task["checks"][0]["status"] == "pass"
            bare = remote.root / (task["repo_url"].rsplit("/", 1)[-1])
            head = subprocess.run(
                ["git", "-C", str(bare), "rev-parse", "main"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert head == task["commit_sha"] == receiver.calls[0][2]["commit_sha"]
            # The preview container is the job's: teardown removes it.
            assert httpx.delete(f"{stack.url}/job/{job_id}").status_code == 202
            assert (
                stack.wait_job(job_id, statuses=("destroyed",), timeout=60)["status"] == "destroyed"
            )
    finally:
        remote.stop()
