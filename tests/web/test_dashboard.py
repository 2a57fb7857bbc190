"""Issue 7: the web dashboard, driven in a real browser against the real system.

Headless Chromium (Debian's package, through playwright's Python API) talks to the gateway
process that `make_stack` starts; the static-site job really deploys on the local Docker
engine. Screenshots are kept under test-artifacts/web/.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.verifier.browser import CHROMIUM_ARGS as BROWSER_ARGS
from tests.support.fixtures_web import STATIC_SITE

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed: apt-get install -y chromium",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install playwright"
)
expect = sync_api.expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM_ARGS = list(BROWSER_ARGS)  # the same flags the verifier launches Chromium with
MAIN_STEPS = ["queued", "analyzing", "generating", "provisioning", "verifying", "completed"]

# Records every step the timeline marks as current, so no quick status is missed by polling.
RECORD_STEPS = """() => {
  window.__steps = [];
  const record = () => {
    const current = document.querySelector('#timeline [aria-current=step]');
    if (!current) return;
    const seen = current.dataset.step + ':' + current.dataset.state;
    if (window.__steps[window.__steps.length - 1] !== seen) window.__steps.push(seen);
  };
  record();
  new MutationObserver(record).observe(
    document.getElementById('timeline'), {childList: true, subtree: true});
}"""


@pytest.fixture
def stack(make_stack):
    """The whole system; made before the browser, whose event loop blocks asyncio.run."""
    return make_stack(VERIFY_TIMEOUT_S="30")


@pytest.fixture
def page(stack) -> Iterator[object]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # Nothing may load from anywhere but the gateway itself.
        foreign: list[str] = []
        page.route(
            re.compile(r"^(?!http://127\.0\.0\.1:\d+/).*"),
            lambda route: (foreign.append(route.request.url), route.abort()),
        )
        yield page
        context.close()
        browser.close()
    assert not foreign, f"the dashboard tried to load from elsewhere: {foreign}"
    assert not errors, f"browser errors: {errors}"


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_dashboard_submits_follows_views_and_tears_down(stack, git_server, page) -> None:
    # The delay holds the job in the analyzer for a moment, so the page sees it move.
    repo_url = git_server.create_repo("web-dashboard-static", STATIC_SITE, delay_s=2)

    # A job whose text is hostile markup, failing at once (no such repository).
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> deploy it'
    failed_id = stack.submit(repo_url=git_server.url("web-no-such-repo"), description=hostile)

    # --- the dashboard: submit from the form, see it listed ----------------------------------
    home = page.goto(f"{stack.url}/")
    assert home is not None and home.status == 200, (
        f"GET / answered {home and home.status}: the gateway does not serve the dashboard "
        "(services/gateway/app.py must include services.gateway.routes.web.router)"
    )
    expect(page.get_by_role("heading", name="New job")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Site from a brief"))).to_have_attribute(
        "href", "/ui/tasks"
    )
    page.get_by_label("Repository URL").fill(repo_url)
    page.get_by_label("What to deploy").fill("deploy this static site")
    page.get_by_label("Target").select_option("local")
    page.get_by_label("Deploy", exact=True).check()
    page.get_by_role("button", name="Submit job").click()
    new_link = page.locator("#new-job-link")
    expect(new_link).to_be_visible()
    job_id = new_link.get_attribute("href").rsplit("/", 1)[-1]
    row = page.locator(f'#jobs tbody tr[data-job-id="{job_id}"]')
    expect(row).to_be_visible()
    expect(page.locator(f'#jobs tbody tr[data-job-id="{failed_id}"]')).to_be_visible()
    _shot(page, "01-dashboard-submitted")

    # The status filter narrows the list (and the list refreshes by itself).
    expect(page.locator(f'tr[data-job-id="{failed_id}"] .badge')).to_have_text(
        "failed", timeout=60_000
    )
    page.get_by_label("Status").select_option("failed")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    expect(page.locator(f'tr[data-job-id="{failed_id}"]')).to_be_visible()
    _shot(page, "02-dashboard-filtered-failed")
    page.get_by_label("Status").select_option("")
    expect(row).to_be_visible()

    # --- the job page: timeline advances, the log streams in without a reload -----------------
    row.get_by_role("link").click()
    page.wait_for_url(f"**/ui/job/{job_id}")
    page.evaluate("window.__sameDocument = true")
    page.evaluate(RECORD_STEPS)
    log_lines = page.locator("#log li")
    expect(log_lines.first).to_be_visible(timeout=60_000)
    early_count = log_lines.count()
    early_status = page.locator("#status-badge").text_content()
    assert early_status not in ("completed", "failed"), "the job ended before the page opened"
    _shot(page, "03-job-running")

    expect(page.locator("#status-badge")).to_have_text("completed", timeout=300_000)
    expect(page.locator("#stream-state")).to_have_text("ended")
    api_job = stack.job(job_id)
    expect(log_lines).to_have_count(len(api_job["logs"]))
    assert len(api_job["logs"]) >= early_count + 3, early_count
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.locator("#log li .message").last.text_content() == api_job["logs"][-1]["message"]

    steps = [s.split(":")[0] for s in page.evaluate("window.__steps")]
    assert steps[-1] == "completed" and "provisioning" in steps, steps
    assert [MAIN_STEPS.index(s) for s in steps] == sorted(MAIN_STEPS.index(s) for s in steps)
    for step in page.locator("#timeline li").all():
        assert step.get_attribute("data-state") == "done"

    # The deployed URL is a link to the running site.
    link = page.locator("#deploy-url")
    expect(link).to_be_visible()
    assert link.get_attribute("href") == api_job["result"]["url"]
    assert "Hello from autodeploy" in httpx.get(api_job["result"]["url"], timeout=10).text

    # Analysis: readable summary, and the raw JSON behind a toggle.
    expect(page.locator("#analysis-summary")).to_contain_text("http-service")
    expect(page.locator("#analysis-raw")).to_be_hidden()
    page.get_by_role("button", name="Show raw JSON").click()
    raw = json.loads(page.locator("#analysis-raw").text_content())
    assert raw["commit_sha"] == api_job["analysis"]["commit_sha"]
    _shot(page, "04-job-completed")

    # Generated files: open the Dockerfile in the viewer; the bundle downloads.
    page.locator("#file-list").get_by_role("button", name=re.compile(r"^Dockerfile\b")).click()
    viewer = page.locator("#viewer-content")
    expect(viewer).to_contain_text("FROM")
    dockerfile = httpx.get(f"{stack.url}/job/{job_id}/artifacts/Dockerfile", timeout=10).text
    assert viewer.text_content() == dockerfile
    bundle_href = page.locator("#bundle-link").get_attribute("href")
    assert bundle_href == f"/job/{job_id}/bundle.tar.gz"
    bundle = page.request.get(f"{stack.url}{bundle_href}")
    assert bundle.status == 200
    with tarfile.open(fileobj=io.BytesIO(bundle.body()), mode="r:gz") as tar:
        assert f"autodeploy-{job_id}/Dockerfile" in tar.getnames()
    page.locator("#viewer").scroll_into_view_if_needed()
    _shot(page, "05-job-dockerfile")

    # The stream resumes after a given line when a client reconnects with Last-Event-ID.
    middle = api_job["logs"][len(api_job["logs"]) // 2]["id"]
    with httpx.stream(
        "GET", f"{stack.url}/job/{job_id}/events", headers={"Last-Event-ID": str(middle)}
    ) as events:
        text = "".join(events.iter_text())
    ids = [int(i) for i in re.findall(r"^id: (\d+)$", text, flags=re.MULTILINE)]
    assert ids and ids[0] > middle and ids == sorted(ids)
    assert ids[-1] == api_job["logs"][-1]["id"] and "event: end" in text

    # --- teardown: confirm, then watch it reach destroyed -----------------------------------
    dialogs: list[str] = []

    def accept(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Tear down…").click()
    expect(page.locator("#status-badge")).to_have_text("destroyed", timeout=120_000)
    assert dialogs and job_id in dialogs[0]
    teardown_step = page.locator("#timeline li[data-step=teardown]")
    expect(teardown_step).to_have_attribute("data-state", "done")
    expect(teardown_step).to_contain_text("destroyed")
    expect(page.locator("#url-box")).to_be_hidden()
    expect(page.get_by_role("button", name="Tear down…")).to_be_disabled()
    assert stack.job(job_id)["status"] == "destroyed"
    _shot(page, "06-job-destroyed")

    # --- the failed job: its hostile text is shown as text, never run ------------------------
    page.goto(f"{stack.url}/ui/job/{failed_id}")
    expect(page.locator("#status-badge")).to_have_text("failed")
    expect(page.locator("#error-box")).to_be_visible()
    expect(page.locator("#job-description")).to_have_text(hostile)
    expect(page.locator("#timeline li[data-state=failed]").first).to_be_visible()
    # Nothing was analysed or generated: no toggle, no download link.
    expect(page.get_by_role("button", name="Show raw JSON")).to_be_hidden()
    expect(page.locator("#bundle-link")).to_be_hidden()
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img, main script").count() == 0
    _shot(page, "07-job-failed-hostile-text")

    # An unknown job has a page that says so.
    missing = page.request.get(f"{stack.url}/ui/job/00000000-0000-0000-0000-000000000000")
    assert missing.status == 404 and "No such job" in missing.text()


def test_job_page_shows_a_cloud_plans_monthly_cost(stack, git_server, page) -> None:
    # A plan-mode aws-ec2 job: priced from its Terraform before anything could be applied.
    repo_url = git_server.create_repo("web-dashboard-cost", STATIC_SITE)
    job_id = stack.submit(
        repo_url=repo_url, description="deploy it on a VM", target="aws-ec2", mode="plan"
    )
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "planned", job["error"]
    page.goto(f"{stack.url}/ui/job/{job_id}")
    cost = page.locator("#job-cost")
    expect(cost).to_have_text(re.compile(r"^about \$24\.10 a month in ca-central-1"))
    assert "2026-12-07" in (cost.get_attribute("title") or "")  # the price table's date
    _shot(page, "06-job-cost")
