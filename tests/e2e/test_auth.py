"""Issue 7 acceptance 6: with API tokens configured, no token means 401 and nothing queued."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e

BODY = {"repo_url": "https://github.com/pallets/flask", "description": "deploy it"}


def test_requests_without_a_valid_token_are_refused_and_queue_nothing(make_stack) -> None:
    stack = make_stack(("gateway",), API_TOKENS="tok-alpha-123456, tok-beta-654321")
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic x"}):
        response = httpx.post(f"{stack.url}/request", json=BODY, headers=headers)
        assert response.status_code == 401, response.text
        assert "API token" in response.text and response.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{stack.url}/list", headers=headers).status_code == 401
    assert stack.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 0
    assert stack.sql("SELECT count(*) AS n FROM outbox")[0]["n"] == 0
    # Health, readiness and metrics stay open for probes and Prometheus.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{stack.url}{path}").status_code == 200
    ok = httpx.post(
        f"{stack.url}/request", json=BODY, headers={"Authorization": "Bearer tok-beta-654321"}
    )
    assert ok.status_code == 202
    cookie = httpx.get(f"{stack.url}/list", cookies={"autodeploy_token": "tok-alpha-123456"})
    assert cookie.status_code == 200 and cookie.json()["total"] == 1
    assert "tok-alpha-123456" not in stack.all_logs()
