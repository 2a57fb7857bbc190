"""Issue 25: the dashboard's apps page in a real browser against the real system."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.verifier.browser import CHROMIUM_ARGS
from tests.support.gitserver import GitServer
from tests.support.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect


@pytest.fixture
def stack(make_stack: Any) -> Stack:
    """Made before the browser, whose event loop blocks asyncio.run."""
    return make_stack(VERIFY_TIMEOUT_S="30")  # type: ignore[no-any-return]


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page
        browser.close()
    assert not errors, f"browser errors: {errors}"


def test_apps_page_shows_the_url_and_serving_revision_and_redeploys(
    stack: Stack, git_server: GitServer, page: Any
) -> None:
    url = git_server.create_repo("ui-shop", {"index.html": "<h1>ui shop</h1>\n"})
    job = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert job["status"] == "completed", job["error"]
    app_url = job["result"]["app"]["url"]

    page.goto(f"{stack.url}/")
    page.get_by_role("link", name="Apps").click()
    row = page.locator('#apps tbody tr[data-app="ui-shop"]')
    expect(row.get_by_role("link", name=app_url)).to_have_attribute("href", app_url)
    expect(row.get_by_role("link", name=job["id"])).to_have_attribute(
        "href", f"/ui/job/{job['id']}"
    )

    row.get_by_role("button", name="Redeploy").click()
    queued = page.locator("#apps-status a")
    expect(queued).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
    revision = queued.inner_text()
    assert stack.wait_job(revision, timeout=300)["status"] == "completed"
    expect(row.get_by_role("link", name=revision)).to_be_visible(timeout=10_000)
    assert "ui shop" in httpx.get(app_url, timeout=10).text
