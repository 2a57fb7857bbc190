"""Fixtures for tests against a real Docker engine and the local base images."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from shared.capabilities.docker_local import DockerLocal, job_image_tags, job_labels
from shared.images import load_base_image_overrides

ROOT = Path(__file__).resolve().parents[2]
OVERRIDES = ROOT / "deploy" / "base-images" / "overrides.json"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client for the engine DOCKER_HOST names; skips the suite when none answers."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        pytest.skip(f"no Docker engine reachable at {where} ({exc}); run scripts/ensure-docker.sh")
    yield client
    client.close()


@pytest.fixture(scope="session")
def overrides() -> dict[str, str]:
    """Official image name -> local base image, as the generator's override setting reads it."""
    return load_base_image_overrides(str(OVERRIDES))


@pytest.fixture(scope="session")
def base_images(docker_client: docker.DockerClient, overrides: dict[str, str]) -> dict[str, str]:
    """The override map, after making sure the local images exist (built once if missing)."""
    needed = {overrides["python:3.12-slim"], overrides["nginx:1.27-alpine"]}
    missing = [tag for tag in needed if not _has_image(docker_client, tag)]
    if missing:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "build-base-images.sh")],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if proc.returncode != 0:
            pytest.fail(f"building base images {missing} failed:\n{proc.stdout}\n{proc.stderr}")
    return overrides


@pytest.fixture(scope="session")
def tool_images(docker_client: docker.DockerClient, base_images: dict[str, str]) -> dict[str, str]:
    """The override map, with the uv, Bun and Deno images built if this engine lacks them."""
    needed = [base_images[f"{repo}:latest"] for repo in _TOOL_REPOS]
    missing = [tag for tag in needed if not _has_image(docker_client, tag)]
    if missing:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "build-base-images.sh"), "--only", "uv,bun,deno"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if proc.returncode != 0:
            pytest.fail(f"building {missing} failed:\n{proc.stdout}\n{proc.stderr}")
    return base_images


_TOOL_REPOS = ("ghcr.io/astral-sh/uv", "oven/bun", "denoland/deno")


@pytest.fixture(scope="session")
def target(docker_client: docker.DockerClient) -> DockerLocal:
    return DockerLocal(docker_client)


def new_job_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def labelled(client: docker.DockerClient, job_id: str) -> dict[str, list[str]]:
    """Every container, image, network and volume the engine holds for the job."""
    selector = {"label": [f"{k}={v}" for k, v in job_labels(job_id).items()]}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=selector)],
        "images": sorted(job_image_tags(client, job_id)),
        "networks": [n.name for n in client.networks.list(filters=selector)],
        "volumes": [v.name for v in client.volumes.list(filters=selector)],
    }


def wait_for_http(url: str, timeout_s: float = 30.0) -> httpx.Response:
    """GET url until it answers (the app may still be starting)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError as exc:
            last = exc
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout_s}s: {last}")


def _has_image(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


class _Recorder(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b"loopback-secret\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP service on the host's loopback that records every request it gets."""
    paths: list[str] = []
    handler = type("Recorder", (_Recorder,), {"paths": paths})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", paths
    server.shutdown()
    server.server_close()
