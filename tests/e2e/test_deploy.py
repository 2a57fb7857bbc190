"""Issue 5: real deployments on the local Docker engine, through the HTTP API."""

from __future__ import annotations

import docker
import httpx
import pytest

from shared.capabilities.docker_local import job_image_tags
from tests.support import fixtures_web as web
from tests.support.stack import Isolated, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, git_server):
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("deploy"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host, "VERIFY_TIMEOUT_S": "30"},
    ).start()
    yield stack
    stack.stop()
    iso.drop()


def _labelled(job_id: str) -> dict[str, list]:
    client = docker.from_env()
    label = f"autodeploy.job_id={job_id}"
    return {
        "containers": client.containers.list(all=True, filters={"label": label}),
        "images": sorted(job_image_tags(client, job_id)),
        "networks": client.networks.list(filters={"label": label}),
    }


@pytest.mark.parametrize(
    ("name", "files", "body"),
    [
        ("flask-subfolder-loopback", web.FLASK_APP, "hello from flask"),
        ("express", web.EXPRESS_APP, "hello from express"),
        ("django", web.DJANGO_APP, "hello from django"),
        ("static", web.STATIC_SITE, "Hello from autodeploy"),
        ("flask-postgres", web.FLASK_POSTGRES_APP, "db says 42"),
        ("flask-libpq", web.FLASK_LIBPQ_APP, "libpq says 42"),
    ],
)
def test_app_is_deployed_and_answers(stack, git_server, name, files, body) -> None:
    url = git_server.create_repo(f"deploy-{name}", files)
    job_id = stack.submit(repo_url=url, description=f"deploy this {name} app")
    job = stack.wait_job(job_id, timeout=300)
    last_lines = [line["message"] for line in job["logs"]][-15:]
    assert job["status"] == "completed", (job["error"], last_lines)
    response = httpx.get(job["result"]["url"], timeout=10)
    assert response.status_code == 200 and body in response.text
    assert job["result"]["commit"] == job["analysis"]["commit_sha"]
    assert job["result"]["health"]["attempts"][-1]["status"] == 200
    if name == "flask-subfolder-loopback":
        assert job["analysis"]["app_root"] == "app" and job["analysis"]["binds_loopback"]
    assert set(job["result"]["timings"]) == {"analyzer", "generator", "provisioner", "verifier"}
    # Build output streamed into the job's log.
    assert any(line["fields"].get("source") == "docker build" for line in job["logs"])


def test_app_that_crashes_on_a_missing_variable_fails_at_the_verifier(stack, git_server) -> None:
    url = git_server.create_repo("deploy-crash", web.CRASHING_APP)
    job = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert job["status"] == "failed" and job["stage"] == "verifier", job["error"]
    assert "PAYMENT_API_URL" in job["error"] and "not set" in job["error"]
    assert "KeyError" in job["error"]  # the container's own last log lines


def test_wrong_port_is_repaired_on_attempt_two(stack, git_server) -> None:
    url = git_server.create_repo("deploy-port-from-settings", web.PORT_FROM_SETTINGS_APP)
    job = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=300)
    assert job["status"] == "completed", job["error"]
    assert job["analysis"]["port"] == {
        "value": 7001,
        "source": "runtime",
        "evidence": [
            {"file": "(container log)", "line": None, "text": "app said it listens on 7001"}
        ],
    }
    messages = [line["message"] for line in job["logs"]]
    assert any("attempt 1 failed: the app listens on port 7001, not on 8000" in m for m in messages)
    assert any("repaired bundle ready for attempt 2" in m for m in messages)
    assert httpx.get(job["result"]["url"], timeout=10).text.strip() == "<h1>served on 7001</h1>"


def test_teardown_removes_everything_twice_and_after_a_restart(stack, git_server) -> None:
    url = git_server.create_repo("deploy-teardown", web.STATIC_SITE)
    job_id = stack.submit(repo_url=url, description="static site")
    job = stack.wait_job(job_id, timeout=300)
    assert job["status"] == "completed", job["error"]
    assert _labelled(job_id)["containers"]

    stack.kill("provisioner")  # teardown must not depend on the process that deployed
    stack.start_service("provisioner")
    for _ in range(2):
        response = httpx.delete(f"{stack.url}/job/{job_id}")
        assert response.status_code == 202 and response.json()["status"] == "destroying"
        job = stack.wait_job(job_id, statuses=("destroyed",), timeout=60)
        assert job["status"] == "destroyed", job["error"]
        assert _labelled(job_id) == {"containers": [], "images": [], "networks": []}
    with pytest.raises(httpx.HTTPError):
        httpx.get(job["result"]["url"], timeout=3)
    assert httpx.delete(f"{stack.url}/job/00000000-0000-0000-0000-000000000000").status_code == 404


def test_generated_files_are_listed_served_and_downloadable(stack, git_server) -> None:
    import io
    import tarfile

    url = git_server.create_repo("plan-only", web.FLASK_APP)
    job = stack.wait_job(stack.submit(repo_url=url, description="flask", mode="plan"), timeout=120)
    assert job["status"] == "planned"
    assert "deployment" not in (job["result"] or {})
    listing = httpx.get(f"{stack.url}/job/{job['id']}/artifacts").json()
    paths = {a["path"] for a in listing}
    # The app lives in app/: its Dockerfile sits beside it, the compose file at the root.
    assert {"app/Dockerfile", "compose.yaml", "Makefile", "DEPLOY.md"} <= paths, paths
    dockerfile = httpx.get(f"{stack.url}/job/{job['id']}/artifacts/app/Dockerfile")
    assert dockerfile.status_code == 200 and "FROM " in dockerfile.text
    assert httpx.get(f"{stack.url}/job/{job['id']}/artifacts/nope.txt").status_code == 404
    tarball = httpx.get(f"{stack.url}/job/{job['id']}/bundle.tar.gz")
    names = tarfile.open(fileobj=io.BytesIO(tarball.content)).getnames()
    assert f"autodeploy-{job['id']}/app/Dockerfile" in names
    assert not _labelled(job["id"])["containers"]  # plan mode applies nothing
