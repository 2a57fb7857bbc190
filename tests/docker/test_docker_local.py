"""The local Docker target against a real engine: build, run, reach, log, tear down."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from shared.capabilities.docker_local import DockerLocal, RunningApp, job_image_tags, job_labels
from shared.contracts.errors import DeployError

from .conftest import labelled, new_job_id, wait_for_http

pytestmark = pytest.mark.docker

FLASK_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "hello from flask on autodeploy"


if __name__ == "__main__":
    print("flask app starting", flush=True)
    app.run(host="0.0.0.0", port=8000)
"""

FLASK_DOCKERFILE = """\
FROM {base}
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY app.py .
EXPOSE 8000
CMD ["python", "app.py"]
"""

SITE_DOCKERFILE = """\
FROM {base}
COPY index.html /usr/share/nginx/html/index.html
"""

SITE_HTML = "<!doctype html><title>t</title><h1>static site on autodeploy</h1>\n"


@dataclass
class Deployed:
    job_id: str
    app: RunningApp
    build_log: list[str]


def flask_context(tmp: Path, base_images: dict[str, str]) -> Path:
    (tmp / "app.py").write_text(FLASK_APP)
    (tmp / "requirements.txt").write_text("flask>=3\n")
    (tmp / "Dockerfile").write_text(FLASK_DOCKERFILE.format(base=base_images["python:3.12-slim"]))
    return tmp


def site_context(tmp: Path, base_images: dict[str, str]) -> Path:
    (tmp / "index.html").write_text(SITE_HTML)
    (tmp / "Dockerfile").write_text(SITE_DOCKERFILE.format(base=base_images["nginx:1.27-alpine"]))
    return tmp


def deploy(target: DockerLocal, context: Path, *, port: int, kind: str) -> Deployed:
    job_id = new_job_id()
    labels = job_labels(job_id)
    log: list[str] = []
    tag = f"autodeploy-test/{kind}:{job_id}"
    target.build(context, tag=tag, on_log=log.append)
    app = target.run(
        tag,
        name=f"autodeploy-{job_id}-{kind}",
        container_port=port,
        env={"APP_GREETING": "hi"},
        labels=labels,
        network=f"autodeploy-{job_id}",
    )
    return Deployed(job_id, app, log)


@pytest.fixture(scope="module")
def flask_app(
    target: DockerLocal,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    deployed = deploy(
        target,
        flask_context(tmp_path_factory.mktemp("flask"), base_images),
        port=8000,
        kind="flask",
    )
    yield deployed
    target.teardown(job_labels(deployed.job_id))


@pytest.fixture(scope="module")
def static_site(
    target: DockerLocal,
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    deployed = deploy(
        target, site_context(tmp_path_factory.mktemp("site"), base_images), port=80, kind="site"
    )
    yield deployed
    target.teardown(job_labels(deployed.job_id))


def test_flask_app_built_with_pip_inside_answers_on_host(flask_app: Deployed) -> None:
    # pip reached the package index from inside the build: CA bundle and index config work.
    # (A concurrent run on the same engine may have left the pip layer in the build cache.)
    log = flask_app.build_log
    assert any("Successfully installed" in line and "flask" in line.lower() for line in log) or (
        any("Using cache" in line for line in log)
    ), log[-20:]
    assert flask_app.app.url == f"http://127.0.0.1:{flask_app.app.host_port}"

    response = wait_for_http(flask_app.app.url + "/")

    assert response.status_code == 200
    assert response.text == "hello from flask on autodeploy"


def test_flask_app_logs_are_captured(target: DockerLocal, flask_app: Deployed) -> None:
    wait_for_http(flask_app.app.url + "/")

    logs = target.logs(flask_app.app.container_id, tail=50)

    assert "flask app starting" in logs
    assert '"GET / HTTP/1.1" 200' in logs
    assert target.state(flask_app.app.container_id).running


def test_static_site_from_local_nginx_answers_on_host(
    target: DockerLocal, static_site: Deployed
) -> None:
    response = wait_for_http(static_site.app.url + "/")

    assert response.status_code == 200
    assert "static site on autodeploy" in response.text
    assert '"GET / HTTP/1.1" 200' in target.logs(static_site.app.container_id)


def test_two_revisions_of_one_commit_share_an_image_and_each_teardown_takes_only_its_tag(
    target: DockerLocal,
    docker_client: docker.DockerClient,
    base_images: dict[str, str],
    tmp_path: Path,
) -> None:
    # Builds carry no per-job label, so an unchanged context builds the very same image:
    # the second revision's build is all cache. Tearing the first revision down must
    # leave the second one's image (and its running container) alone.
    context = site_context(tmp_path, base_images)
    first = deploy(target, context, port=80, kind="site")
    second = deploy(target, context, port=80, kind="site")
    ids = {
        job: next(iter(job_image_tags(docker_client, job)))
        for job in (first.job_id, second.job_id)
    }
    assert ids[first.job_id] == ids[second.job_id]

    report = target.teardown(job_labels(first.job_id))

    assert report.complete, report.errors
    assert job_image_tags(docker_client, first.job_id) == {}
    assert list(job_image_tags(docker_client, second.job_id)) == [ids[second.job_id]]
    assert "static site on autodeploy" in wait_for_http(second.app.url + "/").text
    target.teardown(job_labels(second.job_id))
    assert job_image_tags(docker_client, second.job_id) == {}


@pytest.mark.parametrize("kind", ["flask", "site"])
def test_teardown_leaves_nothing_labelled_and_repeats_harmlessly(
    kind: str,
    target: DockerLocal,
    docker_client: docker.DockerClient,
    base_images: dict[str, str],
    tmp_path: Path,
) -> None:
    # Its own job, so this test does not depend on test order; build layers are cached.
    if kind == "flask":
        deployed = deploy(target, flask_context(tmp_path, base_images), port=8000, kind=kind)
    else:
        deployed = deploy(target, site_context(tmp_path, base_images), port=80, kind=kind)
    wait_for_http(deployed.app.url + "/")
    before = labelled(docker_client, deployed.job_id)
    assert before["containers"] and before["images"] and before["networks"]

    first = target.teardown(job_labels(deployed.job_id))

    assert first.complete, first.errors
    assert labelled(docker_client, deployed.job_id) == {
        "containers": [],
        "images": [],
        "networks": [],
        "volumes": [],
    }
    assert target.state(deployed.app.container_id).status == "missing"
    second = target.teardown(job_labels(deployed.job_id))
    assert second.complete and not second.removed_anything
    # The shared base image must survive a job's teardown.
    docker_client.images.get(base_images["python:3.12-slim"])


def test_failed_build_raises_with_the_last_output_lines(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_images['debian:bookworm-slim']}\n"
        "RUN echo 'about to fail: missing-config.toml' && exit 3\n"
    )
    job_id = new_job_id()

    with pytest.raises(DeployError) as caught:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/broken:{job_id}",
            on_log=lambda _line: None,
        )

    message = str(caught.value)
    assert "autodeploy-test/broken" in message
    assert "about to fail: missing-config.toml" in message
    assert "returned a non-zero code: 3" in message
    target.teardown(job_labels(job_id))


def test_app_that_exits_at_once_is_reported_with_its_logs(
    target: DockerLocal, base_images: dict[str, str]
) -> None:
    job_id = new_job_id()
    labels = job_labels(job_id)
    try:
        with pytest.raises(DeployError) as caught:
            target.run(
                base_images["python:3.12-slim"],
                name=f"autodeploy-{job_id}-crash",
                container_port=8000,
                env={},
                labels=labels,
                network=None,
                command=["python", "-c", "import sys; print('boom: no DATABASE_URL'); sys.exit(4)"],
            )
        assert "boom: no DATABASE_URL" in str(caught.value)
        assert "exit code 4" in str(caught.value)
    finally:
        report = target.teardown(labels)
    assert report.containers  # the crashed container was labelled and found


def test_backing_services_answer_on_the_job_network_and_go_away_on_teardown(
    target: DockerLocal, docker_client: docker.DockerClient, base_images: dict[str, str]
) -> None:
    needed = [base_images["postgres:16"], base_images["redis:7"]]
    if not all(docker_client.images.list(name=tag) for tag in needed):
        pytest.skip(f"{needed} not built; run scripts/build-base-images.sh")
    job_id = new_job_id()
    labels = job_labels(job_id)
    network = f"autodeploy-{job_id}"
    try:
        db = target.start_service(
            "postgres", labels=labels, network=network, image_overrides=base_images, alias="db"
        )
        cache = target.start_service(
            "redis", labels=labels, network=network, image_overrides=base_images
        )
        db_container = docker_client.containers.get(db.container_id)
        volumes = [m["Name"] for m in db_container.attrs["Mounts"] if m["Type"] == "volume"]

        # Through the network alias, with the generated password, as the app would connect.
        code, out = db_container.exec_run(["psql", db.env["DATABASE_URL"], "-tAc", "select 40+2"])
        assert (code, out.strip()) == (0, b"42")
        # With libpq's own variables alone (no URL), as settings reading PGHOST etc. connect.
        libpq = {k: v for k, v in db.env.items() if k.startswith("PG")}
        code, out = db_container.exec_run(["psql", "-tAc", "select 40+2"], environment=libpq)
        assert (code, out.strip()) == (0, b"42")
        code, out = docker_client.containers.get(cache.container_id).exec_run(
            ["redis-cli", "-u", cache.env["REDIS_URL"], "ping"]
        )
        assert (code, out.strip()) == (0, b"PONG")
    finally:
        report = target.teardown(labels)

    assert report.complete, report.errors
    assert sorted(report.containers) == sorted([db.name, cache.name])
    assert labelled(docker_client, job_id)["networks"] == []
    assert not [v for v in volumes if docker_client.volumes.list(filters={"name": v})]
