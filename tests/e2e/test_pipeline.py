"""Issue 2: a job passes through all four stages, in order, over the real bus."""

from __future__ import annotations

import httpx
import pytest

from tests.support.fixtures_web import STATIC_SITE

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def test_job_goes_through_all_four_stages_to_completed(make_stack, git_server) -> None:
    url = git_server.create_repo("static-site", STATIC_SITE)
    stack = make_stack()
    job_id = stack.submit(repo_url=url, description="deploy this static site")
    job = stack.wait_job(job_id, timeout=240)
    assert job["status"] == "completed", (job["error"], stack.tail("provisioner"))
    services = [line["service"] for line in job["logs"]]
    # Each stage logged, and in pipeline order.
    firsts = [services.index(s) for s in ("analyzer", "generator", "provisioner", "verifier")]
    assert firsts == sorted(firsts), services
    assert job["result"]["url"].startswith("http://")
    assert httpx.get(job["result"]["url"], timeout=5).status_code == 200
    listed = httpx.get(f"{stack.url}/list").json()
    assert listed["items"][0]["id"] == job_id and listed["items"][0]["status"] == "completed"
