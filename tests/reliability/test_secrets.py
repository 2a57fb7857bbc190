"""Issue 8 point 5: secrets go where they are needed and nowhere else.

One stack of the real system, with an LLM (the local OpenAI-compatible stub, which
insists on its API key), stand-in GitHub (its own service token) and /tasks (its shared
secret), takes a private-repository deployment carrying a ``github_token`` and a /tasks
brief carrying the ``secret``. After both jobs end the normal way, every place a secret
could land is read back: each service's stdout/stderr, every row of every table, every
artifact (listing, each file, the tarball unpacked), every API answer (including the
refusals), the SSE stream, the Docker objects of the deployment, whatever is left in the
workspace, and everything sent out (LLM prompts, GitHub calls, the pushed repository, the
published site, the evaluation callback). Each secret is searched raw, base64 (any
alignment), percent-encoded, hex and by a distinctive piece: none may appear. The test
first proves the scanner finds what it looks for, and that each secret was really used.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import string
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from shared.capabilities.docker_local import JOB_LABEL
from tests.support.fixtures_web import STATIC_SITE
from tests.support.github_stub import GitHubStub
from tests.support.gitserver import GitServer
from tests.support.openai_stub import OpenAIStub, json_reply
from tests.support.secret_scan import SecretScanner
from tests.support.stack import Stack, rabbit_api
from tests.support.task_fixtures import Receiver, site_manifest, task_body, tasks_env

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

Keep = Callable[[str, httpx.Response], httpx.Response]

_ALNUM = string.ascii_letters + string.digits


def _random(n: int = 28) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


# Each secret is a short prefix and a random body; the body's first 12 characters are the
# "distinctive piece" searched for on its own. None has a shape the product's pattern
# redaction knows (ghp_…, github_pat_…, sk-…), so only not leaking them keeps them out.
_BODIES = {name: _random() for name in ("github_token", "task_secret", "llm_key", "service")}
SECRETS = {
    "github_token": "pvt" + _BODIES["github_token"],
    # '+', '/' and '=' make the percent-encoded and form-encoded forms differ from raw.
    "task_secret": f"tsk+{_BODIES['task_secret'][:14]}/={_BODIES['task_secret'][14:]}",
    "llm_key": "llm-" + _BODIES["llm_key"],
    "service GITHUB_TOKEN": "svc" + _BODIES["service"],
}
PARTIALS = {
    "github_token": _BODIES["github_token"][:12],
    "task_secret": _BODIES["task_secret"][:12],
    "llm_key": _BODIES["llm_key"][:12],
    "service GITHUB_TOKEN": _BODIES["service"][:12],
}


@pytest.fixture
def scanner() -> SecretScanner:
    """The scanner, after proving it finds every form of every secret it looks for."""
    scan = SecretScanner(SECRETS, PARTIALS)
    assert scan.find("clean", "nothing to see here " * 100 + _random(64)) == []
    for name, value in SECRETS.items():
        raw = value.encode()
        url_form = "url-encoded" if quote(value, safe="") != value else "raw"
        samples = [
            ("raw", f"log line: token {value} used"),
            (url_form, f"https://x/?token={quote(value, safe='')}&a=1"),
            ("hex", "\\x00ff" + raw.hex() + "00"),
            ("partial", f"...{PARTIALS[name]}... (truncated)"),
        ]
        for prefix in (b"", b"x-access-token:", b"u", b"u:"):  # all three alignments
            blob = base64.b64encode(prefix + raw + b"\n").decode()
            samples.append(("base64", f"Authorization: Basic {blob}"))
        for form, sample in samples:
            found = {(h.secret, h.form) for h in scan.find(form, sample)}
            assert any(s == name and f.startswith(form) for s, f in found), (name, form, sample)
    return scan


@pytest.mark.timeout(600)
def test_no_secret_appears_anywhere_it_does_not_belong(
    make_stack: Callable[..., Stack], git_server: GitServer, tmp_path: Path, scanner: SecretScanner
) -> None:
    token = SECRETS["github_token"]
    task_secret = SECRETS["task_secret"]
    answers: dict[str, str | bytes] = {}  # every API answer, by what was asked

    def keep(name: str, response: httpx.Response) -> httpx.Response:
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        answers[f"{name} → {response.status_code}"] = head.encode() + b"\n\n" + response.content
        return response

    with (
        GitHubStub(git_server, tmp_path / "site", token=SECRETS["service GITHUB_TOKEN"]) as github,
        OpenAIStub(api_key=SECRETS["llm_key"]) as llm,
    ):
        stack = make_stack(
            **tasks_env(github, llm, secret=task_secret),
            CALLBACK_FIRST_DELAY_S="0.1",
            PAGES_TIMEOUT_S="60",
            # The repository job's LLM calls meet an empty script (500): fall back at once.
            LLM_MAX_RETRIES="0",
        )
        repo_url = git_server.create_repo("secrets-private-site", STATIC_SITE, token=token)

        def post(name: str, path: str, body: dict[str, Any]) -> httpx.Response:
            return keep(name, httpx.post(f"{stack.url}{path}", json=body, timeout=30))

        # --- refusals: the secrets are checked, and a refusal echoes nothing ----------
        receiver = Receiver(failures=0)
        good_task = task_body(task_secret, receiver.url, 1, "Show total sales")
        wrong = post("POST /tasks (wrong secret)", "/tasks", {**good_task, "secret": _random()})
        assert wrong.status_code == 403, wrong.text
        near = post(
            "POST /tasks (secret + 1 char)", "/tasks", {**good_task, "secret": task_secret + "x"}
        )
        assert near.status_code == 403, near.text
        invalid = post("POST /tasks (bad email)", "/tasks", {**good_task, "email": "nobody"})
        assert invalid.status_code == 400 and "email" in invalid.text
        assert stack.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 0  # nothing stored
        bad_url = post(
            "POST /request (bad repo_url)",
            "/request",
            {"repo_url": "ftp://example.com/x.git", "description": "x", "github_token": token},
        )
        assert bad_url.status_code == 422 and "repo_url" in bad_url.text
        no_token_id = stack.submit(repo_url=repo_url, description="static site")
        no_token = stack.wait_job(no_token_id, timeout=60)
        assert no_token["status"] == "failed" and "authentication" in no_token["error"]

        # --- (a) a private repository, deployed with the request's token --------------
        accepted = post(
            "POST /request",
            "/request",
            {"repo_url": repo_url, "description": "static site", "github_token": token},
        )
        assert accepted.status_code == 202, accepted.text
        repo_job_id = accepted.json()["job_id"]
        repo_job = stack.wait_job(repo_job_id, timeout=300)
        assert repo_job["status"] == "completed", (repo_job["error"], repo_job["logs"][-10:])
        assert repo_job["request"]["private"] is True

        # --- (b) a /tasks brief, built by the LLM and published with GITHUB_TOKEN ------
        llm_calls_before_task = len(llm.requests)
        llm.push(json_reply(site_manifest("total-sales", "Total: 200")))
        queued = post("POST /tasks", "/tasks", good_task)
        assert queued.status_code == 200 and queued.json()["status"] == "queued", queued.text
        task_id = queued.json()["job_id"]
        task_job = stack.wait_job(task_id, timeout=240)
        assert task_job["status"] == "completed", (task_job["error"], task_job["logs"][-10:])
        task = keep("GET /tasks/{id}", httpx.get(f"{stack.url}/tasks/{task_id}")).json()
        assert task["checks"] and all(c["status"] == "pass" for c in task["checks"])
        assert receiver.calls and receiver.calls[-1][2]["commit_sha"] == task["commit_sha"]

        # --- each secret was really used, where it belongs ---------------------------
        assert len(llm.requests) > llm_calls_before_task  # the task's site came from the LLM
        assert llm.remaining == 0
        bearer = f"Bearer {SECRETS['llm_key']}"
        assert all(r.headers.get("authorization") == bearer for r in llm.requests)
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        authed = [
            (path, auth)
            for _, path, auth in git_server.requests
            if auth and path.startswith("/secrets-private-site")
        ]
        # Only the request's own token: the operator's GITHUB_TOKEN never goes to a host a
        # request names (here, while the token-less job tried this repository).
        assert {auth for _, auth in authed} == {f"Basic {basic}"}, [
            scanner.find("git server", base64.b64decode(auth.split()[-1])) for _, auth in authed
        ]
        # The analyzer fetched with it; the provisioner checked the same commit out of the
        # clone the analyzer kept for the app (a first deploy fetches once, since issue 25).
        assert sum("/info/refs" in path for path, _ in authed) >= 1
        assert any(
            "provisioner: checked out from the app's kept clone" in line["message"]
            for line in repo_job["logs"]
        ), [line["message"] for line in repo_job["logs"]]
        service = SECRETS["service GITHUB_TOKEN"]
        assert github.requests and all(
            r.headers.get("authorization", "").split(" ", 1)[-1] == service for r in github.requests
        )
        pushed_to = [r for r in git_server.requests if r[1].startswith("/gh-") and r[2]]
        assert pushed_to  # the site went to the stand-in GitHub's git remote, authenticated
        assert all(r[2] is None for r in github.site_requests)  # the Pages site got no token

        # --- read back everything the system answers ---------------------------------
        jobs = (no_token_id, repo_job_id, task_id)
        unpacked = _read_api(stack, jobs, keep)
        docker_objects = _docker_objects(repo_job_id)
        assert docker_objects, "the deployment left no Docker objects to inspect"
        deleted = keep("DELETE /job/{id}", httpx.delete(f"{stack.url}/job/{repo_job_id}"))
        assert deleted.status_code == 202
        gone = stack.wait_job(repo_job_id, statuses=("destroyed",), timeout=120)
        assert gone["status"] == "destroyed", gone["error"]
        for job_id in jobs:
            keep(f"GET /job/{job_id} (at the end)", httpx.get(f"{stack.url}/job/{job_id}"))
        keep("GET /list (at the end)", httpx.get(f"{stack.url}/list", params={"limit": 200}))

        # --- and everything it stored, printed and sent ------------------------------
        haystacks: dict[str, str | bytes] = {**answers, **unpacked}
        haystacks.update(docker_objects)
        haystacks.update(_queued_messages(stack))
        stack.stop()  # whatever the services print on their way out counts too
        logs = sorted(stack.workdir.glob("*.log"))
        assert {p.name.split(".")[0] for p in logs} >= {
            "gateway",
            "analyzer",
            "generator",
            "provisioner",
            "verifier",
        }
        for path in logs:
            haystacks[f"log {path.name}"] = path.read_bytes()
        assert sum(len(p.read_bytes()) for p in logs) > 10_000  # the logs were really read
        tables = stack.all_rows_text()
        assert all(job_id in tables for job_id in jobs)  # the scan read the jobs' rows
        haystacks["every table"] = tables
        haystacks.update(_files(stack.workdir / "work", "workspace"))
        haystacks.update(_files(tmp_path / "site", "published site"))
        bare = github.bare_path(task["repo_url"].rstrip("/").rsplit("/", 1)[-1])
        haystacks["pushed repository"] = _git_everything(bare)
        for i, r in enumerate(llm.requests):
            haystacks[f"LLM request {i} body"] = r.raw
            others = {k: v for k, v in r.headers.items() if k != "authorization"}
            haystacks[f"LLM request {i} other headers"] = json.dumps(others)
        for i, g in enumerate(github.requests):
            others = {k: v for k, v in g.headers.items() if k != "authorization"}
            haystacks[f"GitHub call {i} {g.method} {g.path}"] = json.dumps([g.body, others])
        haystacks["evaluation callbacks"] = json.dumps([receiver.calls, receiver.headers])

    hits = scanner.scan(haystacks)
    assert hits == [], "secrets leaked:\n" + "\n".join(map(str, hits))


def _read_api(stack: Stack, jobs: tuple[str, ...], keep: Keep) -> dict[str, str | bytes]:
    """GET everything the API shows about the jobs (answers go through ``keep``).

    Returns the files of each job's bundle, unpacked.
    """
    base = stack.url
    unpacked: dict[str, str | bytes] = {}
    keep("GET /list", httpx.get(f"{base}/list", params={"limit": 200}))
    keep("GET /list?status=completed", httpx.get(f"{base}/list?status=completed"))
    keep("GET /metrics", httpx.get(f"{base}/metrics"))
    for job_id in jobs:
        keep(f"GET /job/{job_id}", httpx.get(f"{base}/job/{job_id}"))
        keep(f"GET /ui/job/{job_id}", httpx.get(f"{base}/ui/job/{job_id}"))
        events = keep(
            f"GET /job/{job_id}/events", httpx.get(f"{base}/job/{job_id}/events", timeout=30)
        )
        assert "event: end" in events.text  # the stream ran to its end
        keep(f"GET /tasks/{job_id}", httpx.get(f"{base}/tasks/{job_id}"))
        listing = keep(f"GET /job/{job_id}/artifacts", httpx.get(f"{base}/job/{job_id}/artifacts"))
        paths = {a["path"] for a in listing.json()}
        if job_id == jobs[0]:
            assert not paths  # the job without a token never got that far
            continue
        assert paths, f"job {job_id} has no artifacts to read"
        for path in sorted(paths):
            one = httpx.get(f"{base}/job/{job_id}/artifacts/{quote(path, safe='/')}")
            assert keep(f"GET /job/{job_id}/artifacts/{path}", one).status_code == 200
        bundle = keep(
            f"GET /job/{job_id}/bundle.tar.gz", httpx.get(f"{base}/job/{job_id}/bundle.tar.gz")
        )
        assert bundle.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(bundle.content), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            assert {m.name.split("/", 1)[1] for m in members} == paths
            for member in members:
                data = tar.extractfile(member)
                assert data is not None
                unpacked[f"bundle {member.name}"] = data.read()
    return unpacked


def _docker_objects(job_id: str) -> dict[str, str | bytes]:
    """``docker inspect`` (and image history) of everything labelled for the job."""
    found: dict[str, str | bytes] = {}
    label = f"label={JOB_LABEL}={job_id}"
    for kind, list_cmd in (
        ("container", ["docker", "ps", "-aq", "--no-trunc", "--filter", label]),
        ("image", ["docker", "images", "-q", "--no-trunc", "--filter", label]),
        ("network", ["docker", "network", "ls", "-q", "--filter", label]),
        ("volume", ["docker", "volume", "ls", "-q", "--filter", label]),
    ):
        ids = sorted(set(_run(list_cmd).split()))
        for object_id in ids:
            found[f"docker {kind} {object_id[:19]}"] = _run(["docker", kind, "inspect", object_id])
            if kind == "image":
                history = ["docker", "history", "--no-trunc", object_id]
                found[f"docker image history {object_id[:19]}"] = _run(history)
                found.update(_image_layers(object_id))
    return found


def _image_layers(image_id: str) -> dict[str, str | bytes]:
    """Every file of every layer of an image (``docker save``), one haystack per layer."""
    saved = subprocess.run(["docker", "save", image_id], capture_output=True, check=True).stdout
    layers: dict[str, str | bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(saved)) as image:
        manifest = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        for number, name in enumerate(manifest[0]["Layers"]):
            blob = image.extractfile(name)
            assert blob is not None
            parts = []
            with tarfile.open(fileobj=blob, mode="r:*") as layer:
                for member in layer:
                    data = layer.extractfile(member) if member.isfile() else None
                    if data is not None:
                        parts.append(f"\n--- {member.name}\n".encode() + data.read())
            layers[f"docker image {image_id[:19]} layer {number}"] = b"".join(parts)
    assert layers, f"image {image_id} has no layers"
    return layers


def _queued_messages(stack: Stack) -> dict[str, str | bytes]:
    """Messages still sitting in the stack's queues (dead letters, retries), if any."""
    found: dict[str, str | bytes] = {}
    vhost = quote(stack.iso.name, safe="")
    queues = rabbit_api("GET", f"/queues/{vhost}")
    assert queues, "the stack's vhost has no queues"
    for queue in queues:
        if not queue.get("messages"):
            continue
        name = quote(queue["name"], safe="")
        peek = {"count": 100, "ackmode": "reject_requeue_true", "encoding": "auto"}
        messages = rabbit_api("POST", f"/queues/{vhost}/{name}/get", peek)
        found[f"queue {queue['name']}"] = json.dumps(messages)
    return found


def _files(root: Path, what: str) -> dict[str, str | bytes]:
    """Every regular file under ``root``, by path."""
    if not root.exists():
        return {}
    return {
        f"{what} {path.relative_to(root)}": path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _git_everything(bare: Path) -> str:
    """Every commit, patch and ref of a repository."""
    log = _run(["git", "-C", str(bare), "log", "--all", "-p", "--format=fuller"])
    assert "index.html" in log
    return (
        log
        + _run(["git", "-C", str(bare), "show-ref"])
        + _run(["git", "-C", str(bare), "config", "--list", "--local"])
    )


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
