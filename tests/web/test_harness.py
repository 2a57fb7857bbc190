"""Issue 6 acceptance 5: the task harness page submits a task and follows it."""

from __future__ import annotations

import json

import pytest

from tests.web.test_dashboard import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, sync_api

pytestmark = pytest.mark.e2e

SECRET = "harness-secret-42"


@pytest.fixture
def stack(make_stack, git_server):
    # No provisioner: the task stops at `provisioning`, enough to watch its status move.
    return make_stack(
        ("gateway", "analyzer", "generator"),
        TASK_SECRET=SECRET,
        PAGES_GIT_REMOTE=git_server.base_url,
    )


def test_harness_submits_the_sample_and_shows_the_job_progress(stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1200})
        page.goto(f"{stack.url}/ui/tasks")
        sync_api.expect(page.get_by_label("Brief")).to_contain_text("total-sales")
        page.get_by_label("Secret").fill(SECRET)
        page.get_by_role("button", name="Send task").click()
        raw = page.locator("#raw-answer")
        sync_api.expect(raw).to_contain_text('"status": "queued"')
        answer = json.loads(raw.text_content() or "{}")
        assert set(answer) == {"job_id", "status"}
        status = page.locator("#task-status")
        sync_api.expect(status).to_have_text("provisioning", timeout=60_000)
        sync_api.expect(page.locator("#task-log")).to_contain_text("generator")
        page.screenshot(path=str(ARTIFACTS / "08-task-harness.png"), full_page=True)

        page.get_by_label("Secret").fill("wrong")
        page.get_by_role("button", name="Send task").click()
        sync_api.expect(raw).to_contain_text("403")
        browser.close()
    jobs = stack.sql("SELECT id, status FROM jobs WHERE kind = 'task'")
    assert [str(j["id"]) for j in jobs] == [answer["job_id"]]  # the 403 stored nothing
