"""Issue 3 acceptance 2: a private repository clones with a token that is never seen again."""

from __future__ import annotations

import base64
import secrets

import httpx
import pytest

from tests.support.fixtures_web import STATIC_SITE

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def test_private_repository_token_is_used_and_never_stored_logged_or_echoed(
    make_stack, git_server
) -> None:
    token = "github_pat_" + secrets.token_hex(20)
    url = git_server.create_repo("private-site", STATIC_SITE, token=token)
    stack = make_stack()

    without = stack.wait_job(stack.submit(repo_url=url, description="static site"), timeout=60)
    assert without["status"] == "failed" and without["stage"] == "analyzer"
    assert "authentication" in without["error"] and "github_token" in without["error"]

    response = httpx.post(
        f"{stack.url}/request",
        json={"repo_url": url, "description": "static site", "github_token": token},
    )
    assert response.status_code == 202 and token not in response.text
    job_id = response.json()["job_id"]
    job = stack.wait_job(job_id, timeout=300)
    assert job["status"] == "completed", job["error"]
    assert job["request"]["private"] is True
    # The analyzer and the provisioner both fetched with the token, as an HTTP header.
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    authed = [r for r in git_server.requests if r[1].startswith("/private-site") and r[2]]
    assert authed and all(r[2] == f"Basic {basic}" for r in authed)

    forms = (token, basic, token[11:])
    haystacks = {"service logs": stack.all_logs()}
    haystacks["every table"] = stack.all_rows_text()
    assert job_id in haystacks["every table"]  # the scan really read the job's rows
    for path in (f"/job/{job_id}", "/list", f"/job/{job_id}/artifacts", f"/job/{without['id']}"):
        haystacks[f"GET {path}"] = httpx.get(f"{stack.url}{path}").text
    for name, text in haystacks.items():
        for form in forms:
            assert form not in text, f"the token leaked into {name}"
    assert len(haystacks["service logs"]) > 1000  # the scan really read the logs
