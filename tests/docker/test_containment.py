"""Untrusted builds and containers stay contained on a real Docker engine.

A remote ADD never reaches the engine, a build past its time limit is stopped, app and
service containers run limited and without capabilities they do not need, and the
reaper removes what stale jobs left (only what this test run made: its own label).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import docker
import pytest

from services.provisioner.handlers import build_context
from services.provisioner.reaper import reap_stale_jobs
from shared.capabilities.docker_local import (
    CREATED_LABEL,
    DockerLocal,
    Limits,
    job_labels,
)
from shared.contracts.errors import DeployError

from .conftest import labelled, new_job_id, wait_for_http


def test_remote_add_of_a_loopback_url_is_refused_before_the_engine_sees_it(
    target: DockerLocal,
    base_images: dict[str, str],
    tmp_path: Path,
    loopback_server: tuple[str, list[str]],
) -> None:
    url, requests = loopback_server
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_images['debian:bookworm']}\nADD {url}/metadata /secret\n"
    )
    job_id = new_job_id()
    try:
        with pytest.raises(DeployError) as caught:
            target.build(
                tmp_path,
                tag=f"autodeploy-test/add:{job_id}",
                on_log=lambda _line: None,
            )
    finally:
        target.teardown(job_labels(job_id))
    assert "Dockerfile:2" in str(caught.value) and "host's network" in str(caught.value)
    assert requests == []  # nothing on the host's loopback was fetched


def test_dockerfile_outside_the_context_and_context_outside_the_job_are_refused(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    job = tmp_path / "job"
    (job / "app").mkdir(parents=True)
    (tmp_path / "Dockerfile").write_text(f"FROM {base_images['debian:bookworm']}\n")
    (job / "app" / "Dockerfile").symlink_to(tmp_path / "Dockerfile")
    (job / "escape").symlink_to(tmp_path)

    with pytest.raises(DeployError, match="outside the build context"):
        target.build(job / "app", tag="autodeploy-test/x:1", on_log=lambda _l: None)
    with pytest.raises(DeployError, match="outside the job's folder"):
        build_context(job, "..")
    with pytest.raises(DeployError, match="outside the job's folder"):
        build_context(job, "escape")
    assert build_context(job, "app") == job / "app"


def test_build_past_its_time_limit_is_stopped_and_fails_the_job(
    docker_client: docker.DockerClient, base_images: dict[str, str], tmp_path: Path
) -> None:
    engine = DockerLocal(docker_client, limits=Limits(build_timeout_s=3))
    (tmp_path / "Dockerfile").write_text(f"FROM {base_images['debian:bookworm']}\nRUN sleep 120\n")
    job_id = new_job_id()
    started = time.monotonic()
    try:
        with pytest.raises(DeployError) as caught:
            engine.build(
                tmp_path,
                tag=f"autodeploy-test/slow:{job_id}",
                on_log=lambda _line: None,
            )
        elapsed = time.monotonic() - started
    finally:
        engine.teardown(job_labels(job_id))
    assert "build took longer than 3 s" in str(caught.value)
    assert elapsed < 20, elapsed
    sleeping = [
        c for c in docker_client.containers.list() if "sleep 120" in " ".join(c.attrs["Args"])
    ]
    assert sleeping == []


def _status(container: docker.models.containers.Container, field: str) -> str:
    _, out = container.exec_run(["sh", "-c", f"grep '^{field}:' /proc/1/status"])
    return bytes(out).decode().split(":", 1)[1].strip()


def test_app_container_runs_limited_without_capabilities_and_still_serves(
    docker_client: docker.DockerClient, base_images: dict[str, str]
) -> None:
    engine = DockerLocal(docker_client, limits=Limits(capabilities=()))
    job_id = new_job_id()
    labels = job_labels(job_id)
    try:
        app = engine.run(
            base_images["python:3.12-slim"],
            name=f"autodeploy-{job_id}",
            container_port=8080,
            env={},
            labels=labels,
            command=["python", "-m", "http.server", "8080"],
        )
        assert wait_for_http(app.url + "/").status_code == 200
        container = docker_client.containers.get(app.container_id)
        assert _status(container, "CapEff") == "0000000000000000"
        assert _status(container, "NoNewPrivs") == "1"
        host = container.attrs["HostConfig"]
        assert host["Memory"] == 512 * 1024 * 1024 and host["PidsLimit"] == 256
        assert host["NanoCpus"] == 1_000_000_000
        assert container.labels[CREATED_LABEL].isdigit()
        # The pids limit holds: starting 300 processes fails inside the container.
        _, out = container.exec_run(["sh", "-c", "for i in $(seq 300); do sleep 5 & done; wait"])
        assert b"fork" in bytes(out).lower(), out
    finally:
        engine.teardown(labels)


def test_nginx_on_port_80_serves_with_the_default_capabilities(
    docker_client: docker.DockerClient, base_images: dict[str, str]
) -> None:
    engine = DockerLocal(docker_client)
    job_id = new_job_id()
    labels = job_labels(job_id)
    try:
        app = engine.run(
            base_images["nginx:1.27-alpine"],
            name=f"autodeploy-{job_id}",
            container_port=80,
            env={},
            labels=labels,
        )
        assert wait_for_http(app.url + "/").status_code == 200
        container = docker_client.containers.get(app.container_id)
        assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"]
        assert sorted(container.attrs["HostConfig"]["CapAdd"]) == [
            "CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID",
        ]  # fmt: skip
    finally:
        engine.teardown(labels)


async def test_reaper_removes_only_stale_jobs_of_its_own_run(
    target: DockerLocal, docker_client: docker.DockerClient, base_images: dict[str, str]
) -> None:
    run = {"autodeploy.test-run": uuid.uuid4().hex}
    old, failed, live = new_job_id(), new_job_id(), new_job_id()
    ancient = str(int(time.time()) - 3 * 86400)
    image = base_images["debian:bookworm"]
    for job_id, created in ((old, ancient), (failed, None), (live, None)):
        labels = {**job_labels(job_id), **run}
        if created:
            labels[CREATED_LABEL] = created
        docker_client.containers.create(image, ["true"], name=f"autodeploy-{job_id}", labels=labels)
        docker_client.volumes.create(f"autodeploy-{job_id}-data", labels=labels)
    docker_client.networks.create(
        f"autodeploy-{old}", labels={**job_labels(old), **run, CREATED_LABEL: ancient}
    )

    async def statuses(ids: list[str]) -> dict[str, str]:
        assert sorted(ids) == sorted([old, failed, live])  # nothing outside this run seen
        return {failed: "failed", live: "verifying"}

    try:
        report = await reap_stale_jobs(target, statuses, max_age_s=86400, selector=run)
        assert report.reaped == {old: "older than 86400 s", failed: "job failed"}
        assert report.errors == []
        gone = {"containers": [], "images": [], "networks": [], "volumes": []}
        assert labelled(docker_client, old) == gone
        assert labelled(docker_client, failed) == gone
        assert labelled(docker_client, live)["containers"] == [f"autodeploy-{live}"]
    finally:
        for job_id in (old, failed, live):
            target.teardown({**job_labels(job_id), **run})
