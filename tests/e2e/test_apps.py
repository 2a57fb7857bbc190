"""Issue 25: apps keep one URL while pushes redeploy them (real git server, real Docker)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from services.cli.main import main as cli_main
from shared.apps import sign
from tests.support.gitserver import GitServer, commit_files
from tests.support.stack import Isolated, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def _site(body: str) -> dict[str, str | bytes]:
    return {"index.html": f"<!doctype html><title>shop</title><h1>{body}</h1>\n"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, git_server: GitServer) -> Iterator[Stack]:
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("apps"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host, "VERIFY_TIMEOUT_S": "30"},
    ).start()
    yield stack
    stack.stop()
    iso.drop()  # also removes the proxies of apps the test did not delete


def _push(
    git_server: GitServer,
    name: str,
    files: dict[str, str | bytes],
    message: str,
    branch: str = "main",
) -> str:
    """Commit ``files`` on top of main to ``branch`` and push it; the new commit."""
    work = git_server.root / ".work" / name

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True)

    git("checkout", "-q", "-B", branch, "main")
    sha = commit_files(work, files, message)
    git("push", "-q", "-f", str(git_server.root / f"{name}.git"), branch)
    git("checkout", "-q", "main")
    return sha


def _push_event(repo_url: str, sha: str) -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "0" * 40,
            "after": sha,
            "deleted": False,
            "repository": {
                "clone_url": repo_url,
                "html_url": repo_url.removesuffix(".git"),
                "default_branch": "main",
            },
        }
    ).encode()


def _pull_request_event(repo_url: str, number: int, action: str, head: str) -> bytes:
    return json.dumps(
        {
            "action": action,
            "number": number,
            "pull_request": {"number": number, "head": {"ref": "feature", "sha": head}},
            "repository": {"clone_url": repo_url, "default_branch": "main"},
        }
    ).encode()


def _deliver(
    stack: Stack,
    body: bytes,
    signature: str,
    delivery: str | None = None,
    event: str = "push",
) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
        },
        timeout=10,
    )


class Poller(threading.Thread):
    """A client asking the app's URL every 50 ms, recording every answer (bounded)."""

    def __init__(self, url: str, max_requests: int = 6000) -> None:
        super().__init__(daemon=True)
        self.url, self.max_requests = url, max_requests
        self.answers: list[tuple[int, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set() and len(self.answers) < self.max_requests:
                try:
                    r = client.get(self.url, headers={"Connection": "close"})
                    self.answers.append((r.status_code, r.text))
                except httpx.HTTPError as exc:
                    self.answers.append((0, repr(exc)))
                time.sleep(0.05)


def _app(stack: Stack, name: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.url}/apps/{name}", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_push_redeploys_the_app_at_its_url_without_a_failed_request(
    stack: Stack, git_server: GitServer
) -> None:
    repo = "shop-front"
    url = git_server.create_repo(repo, _site("version one"))
    first = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert first["status"] == "completed", first["error"]

    listed = httpx.get(f"{stack.url}/apps", timeout=10).json()
    assert [a["name"] for a in listed] == ["shop-front"]
    app = _app(stack, "shop-front")
    assert app["current_job_id"] == first["id"] and app["url"]
    assert app["url"] == first["result"]["app"]["url"] != first["result"]["url"]
    assert "version one" in httpx.get(app["url"], timeout=10).text

    issued = httpx.post(f"{stack.url}/apps/shop-front/webhook-secret", timeout=10)
    assert issued.status_code == 201, issued.text
    secret = issued.json()["secret"]
    assert secret not in json.dumps(_app(stack, "shop-front"))
    assert secret not in stack.all_rows_text()

    # A wrong signature is refused and starts nothing.
    sha2 = _push(git_server, repo, _site("version two"), "new body")
    body = _push_event(url, sha2)
    jobs_before = httpx.get(f"{stack.url}/list", timeout=10).json()["total"]
    refused = _deliver(stack, body, sign("not-the-secret", body))
    assert refused.status_code == 401, refused.text
    assert _deliver(stack, body, "").status_code == 401
    assert httpx.get(f"{stack.url}/list", timeout=10).json()["total"] == jobs_before

    # The signed push deploys that commit; a client polling the URL sees only 200s.
    poller = Poller(app["url"])
    poller.start()
    delivery = str(uuid.uuid4())
    accepted = _deliver(stack, body, sign(secret, body), delivery)
    assert accepted.status_code == 200 and accepted.json()["status"] == "queued", accepted.text
    second_id = accepted.json()["revisions"][0]["job_id"]
    second = stack.wait_job(second_id, timeout=300)
    time.sleep(0.5)
    poller.stop.set()
    poller.join(timeout=10)
    assert second["status"] == "completed", second["error"]
    assert second["analysis"]["commit_sha"] == sha2
    statuses = {status for status, _ in poller.answers}
    assert statuses == {200}, [a for a in poller.answers if a[0] != 200][:5]
    bodies = [text for _, text in poller.answers]
    assert "version one" in bodies[0] and "version two" in bodies[-1], len(bodies)
    assert len(poller.answers) > 20  # the client really polled through the switch

    # The same delivery again starts nothing.
    replayed = _deliver(stack, body, sign(secret, body), delivery)
    assert replayed.status_code == 200 and replayed.json()["status"] == "duplicate"

    # The old revision goes once the new one serves.
    assert stack.wait_job(first["id"], timeout=120)["status"] == "destroyed"
    assert secret not in stack.all_logs() and secret not in stack.all_rows_text()

    # A revision whose build fails leaves the previous one serving.
    failing = {"Dockerfile": "FROM nginx:1.27-alpine\nRUN exit 3\n", **_site("version three")}
    sha3 = _push(git_server, repo, failing, "broken build")
    body3 = _push_event(url, sha3)
    third_id = _deliver(stack, body3, sign(secret, body3)).json()["revisions"][0]["job_id"]
    third = stack.wait_job(third_id, timeout=300)
    assert third["status"] == "failed", third
    app = _app(stack, "shop-front")
    assert app["current_job_id"] == second_id
    served = httpx.get(app["url"], timeout=10)
    assert served.status_code == 200 and "version two" in served.text
    assert [r["job_id"] for r in app["revisions"]] == [third_id, second_id, first["id"]]

    # Deleting the app tears every revision down and its URL stops answering.
    deleted = httpx.delete(f"{stack.url}/apps/shop-front", timeout=10)
    assert deleted.status_code == 202, deleted.text
    assert stack.wait_job(second_id, timeout=120)["status"] == "destroyed"
    assert httpx.get(f"{stack.url}/apps/shop-front", timeout=10).status_code == 404
    with pytest.raises(httpx.HTTPError):
        httpx.get(app["url"], timeout=3)


def test_a_push_event_deploys_its_own_commit_even_when_the_branch_moved_on(
    stack: Stack, git_server: GitServer
) -> None:
    repo = "pinned-site"
    url = git_server.create_repo(repo, _site("first"))
    first = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert first["status"] == "completed", first["error"]
    secret = httpx.post(f"{stack.url}/apps/pinned-site/webhook-secret", timeout=10).json()["secret"]
    pushed = _push(git_server, repo, _site("second"), "second")
    _push(git_server, repo, _site("third"), "third")  # lands before the event is handled
    body = _push_event(url, pushed)
    job_id = _deliver(stack, body, sign(secret, body)).json()["revisions"][0]["job_id"]
    job = stack.wait_job(job_id, timeout=300)
    assert job["status"] == "completed", job["error"]
    assert job["analysis"]["commit_sha"] == pushed
    assert "second" in httpx.get(_app(stack, "pinned-site")["url"], timeout=10).text

    # A redeploy takes the branch's head; a new POST /request of the repository joins the app.
    redeploy = httpx.post(f"{stack.url}/apps/pinned-site/redeploy", timeout=10)
    assert redeploy.status_code == 202, redeploy.text
    again = stack.wait_job(redeploy.json()["job_id"], timeout=300)
    assert again["status"] == "completed", again["error"]
    assert "third" in httpx.get(_app(stack, "pinned-site")["url"], timeout=10).text
    joined = stack.wait_job(stack.submit(repo_url=url, description="once more"), timeout=300)
    assert joined["status"] == "completed", joined["error"]
    app = _app(stack, "pinned-site")
    assert app["current_job_id"] == joined["id"]
    assert [r["job_id"] for r in app["revisions"]][:2] == [joined["id"], again["id"]]
    assert "pinned-site-2" not in [a["name"] for a in httpx.get(f"{stack.url}/apps").json()]

    # The CLI shows the same: the app, its URL, and the serving revision marked.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["--api", stack.url, "apps"]) == 0
        assert cli_main(["--api", stack.url, "apps", "pinned-site"]) == 0
    text = out.getvalue()
    assert f"pinned-site  local   {app['url']}" in text
    assert any(line.startswith(f"*  {joined['id']}  completed") for line in text.splitlines())


def test_a_pull_request_gets_a_preview_url_and_closing_it_removes_it(
    stack: Stack, git_server: GitServer
) -> None:
    repo = "blog"
    url = git_server.create_repo(repo, _site("main body"))
    first = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert first["status"] == "completed", first["error"]
    main_url = _app(stack, "blog")["url"]
    secret = httpx.post(f"{stack.url}/apps/blog/webhook-secret", timeout=10).json()["secret"]
    head = _push(git_server, repo, _site("preview body"), "a change", branch="feature")

    opened = _pull_request_event(url, 7, "opened", head)
    answer = _deliver(stack, opened, sign(secret, opened), event="pull_request").json()
    assert [r["app"] for r in answer["revisions"]] == ["blog-pr-7"], answer
    job = stack.wait_job(answer["revisions"][0]["job_id"], timeout=300)
    assert job["status"] == "completed", job["error"]
    assert job["analysis"]["commit_sha"] == head
    preview = _app(stack, "blog-pr-7")
    assert preview["pull_request"] == 7 and preview["url"] not in (None, main_url)
    assert "preview body" in httpx.get(preview["url"], timeout=10).text
    assert "main body" in httpx.get(main_url, timeout=10).text

    closed = _pull_request_event(url, 7, "closed", head)
    answer = _deliver(stack, closed, sign(secret, closed), event="pull_request").json()
    assert answer == {"status": "removing", "revisions": [], "removed": ["blog-pr-7"], "reason": ""}
    assert stack.wait_job(job["id"], timeout=120)["status"] == "destroyed"
    client = docker.from_env()
    assert (
        client.containers.list(all=True, filters={"label": f"autodeploy.job_id={job['id']}"}) == []
    )
    assert httpx.get(f"{stack.url}/apps/blog-pr-7", timeout=10).status_code == 404
    with pytest.raises(httpx.HTTPError):
        httpx.get(preview["url"], timeout=3)
    assert "main body" in httpx.get(main_url, timeout=10).text


@pytest.mark.parametrize(
    ("repo", "dockerfile"),
    [
        # The build fails: the provisioner stops, the verifier never runs.
        ("never-built", "FROM nginx:1.27-alpine\nRUN exit 3\n"),
        # The container exits: the health check fails while the proxy starts beside it.
        ("never-up", 'FROM nginx:1.27-alpine\nCMD ["sh", "-c", "exit 3"]\n'),
    ],
)
def test_a_first_deploy_that_fails_leaves_no_proxy_running(
    stack: Stack, git_server: GitServer, repo: str, dockerfile: str
) -> None:
    # The app exists from its first revision on, but its URL (the proxy container) only
    # while a revision serves: a failed job leaves nothing running.
    url = git_server.create_repo(repo, {"Dockerfile": dockerfile, **_site("never")})
    job = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert job["status"] == "failed", job
    app = _app(stack, repo)
    assert app["current_job_id"] is None and not app.get("url")
    proxies = docker.from_env().containers.list(
        all=True, filters={"label": "autodeploy.app_id", "name": f"autodeploy-app-{repo}-"}
    )
    assert proxies == [], [c.name for c in proxies]
