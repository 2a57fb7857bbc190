"""Issue 3/4: with an LLM configured, a misbehaving endpoint never breaks a job."""

from __future__ import annotations

import pytest

from tests.support.fixtures_web import FLASK_APP
from tests.support.openai_stub import OpenAIStub, Raw, Status

pytestmark = pytest.mark.e2e

KEY = "sk-e2e-autodeploy-abcdef0123456789"


def test_garbage_429_and_errors_from_the_llm_fall_back_to_deterministic(
    make_stack, git_server
) -> None:
    script = [Raw(b"{not json"), Status(429, headers={"Retry-After": "0"}), Raw(b"<html>")] * 3
    with OpenAIStub(script, api_key=KEY) as stub:
        stack = make_stack(
            ("gateway", "analyzer", "generator"),
            OPENAI_API_KEY=KEY,
            OPENAI_BASE_URL=stub.base_url,
            LLM_TIMEOUT_S="2",
            LLM_MAX_RETRIES="2",
        )
        url = git_server.create_repo("llm-flask", FLASK_APP)
        job_id = stack.submit(repo_url=url, description="flask", mode="plan")
        job = stack.wait_job(job_id, timeout=90)
        assert job["status"] == "planned", job["error"]
        messages = "\n".join(line["message"] for line in job["logs"])
        assert "asking the LLM" in messages
        assert "files from deterministic" in messages
        assert job["analysis"]["framework"] == "flask" and job["analysis"]["llm_used"] is False
        assert len(stub.requests) >= 2  # the real openai client really talked to it
        assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in stub.requests)
        assert KEY not in stack.all_logs() and KEY not in str(stack.sql("SELECT * FROM job_logs"))
