"""Fixtures for the ops tier: the compose model, and the service images built once."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD_FILE = GRAFANA_DIR / "dashboards" / "autodeploy.json"
OVERRIDES = ROOT / "deploy" / "base-images" / "overrides.json"

SERVICES = ("gateway", "analyzer", "generator", "provisioner", "verifier")
STAGES = SERVICES[1:]
IMAGE_TAG = "ops"


def compose_command() -> list[str]:
    """Debian's docker-compose (v1) when installed, else the `docker compose` plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    pytest.fail(
        "neither docker-compose nor `docker compose` is installed: apt-get install docker-compose"
    )


def compose_config(path: Path) -> dict[str, Any]:
    """The compose file as compose itself resolves it (anchors, merges, ${VAR:-default})."""
    proc = subprocess.run(
        [*compose_command(), "-f", str(path), "config"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"{path.name} does not load:\n{proc.stderr}"
    return dict(yaml.safe_load(proc.stdout))


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """deploy/compose/compose.yaml, resolved by docker-compose."""
    return compose_config(COMPOSE_FILE)


@pytest.fixture(scope="session")
def prometheus_config() -> dict[str, Any]:
    return dict(yaml.safe_load(PROMETHEUS_FILE.read_text()))


@pytest.fixture(scope="session")
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_FILE.read_text()))


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every query of every panel, rows included."""
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            found.extend((panel["title"], t["expr"]) for t in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return found


# --- images -------------------------------------------------------------------------------

DOCKERFILE = ROOT / "Dockerfile"
STAGE_TERRAFORM = ROOT / "scripts" / "stage-terraform.sh"
TERRAFORM_PIN = ROOT / "deploy" / "terraform" / "pin.env"
STAGED_TERRAFORM = "deploy/terraform/bin/terraform"


def terraform_pin() -> dict[str, str]:
    """deploy/terraform/pin.env's KEY=value lines."""
    pairs = (
        line.split("=", 1)
        for line in TERRAFORM_PIN.read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def _copy_sources(dockerfile: Path) -> set[str]:
    """What the Dockerfile COPYs from the context (globs expanded, stage copies skipped)."""
    sources: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for word in words[1:-1]:
            sources.update(str(p.relative_to(ROOT)) for p in ROOT.glob(word.rstrip("/")))
    return sources


def build_context(terraform: Path | None) -> bytes:
    """A tar of exactly what the Dockerfile COPYs (what a root .dockerignore keeps), with
    `terraform` where scripts/stage-terraform.sh would have staged it."""
    sources = _copy_sources(DOCKERFILE) - {STAGED_TERRAFORM}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(DOCKERFILE, arcname="Dockerfile")
        for source in sorted(sources):
            tar.add(
                ROOT / source,
                arcname=source,
                filter=lambda info: (
                    None
                    if re.search(r"(^|/)(__pycache__|\.mypy_cache)(/|$)|\.pyc$", info.name)
                    else info
                ),
            )
        if terraform is not None:
            tar.add(terraform, arcname=STAGED_TERRAFORM)
    return buf.getvalue()


def stage_terraform(
    dest: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run scripts/stage-terraform.sh into `dest`, as `make up` does into the context."""
    return subprocess.run(
        ["bash", str(STAGE_TERRAFORM), str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def staged_terraform(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path | None, str]:
    """The host's terraform as the build would carry it (or None), and the script's word."""
    dest = tmp_path_factory.mktemp("terraform-context")
    proc = stage_terraform(dest)
    assert proc.returncode == 0, proc.stderr
    staged = dest / "terraform"
    return (staged if staged.exists() else None), (proc.stdout + proc.stderr).strip()


@pytest.fixture(scope="session")
def python_base_image() -> str:
    """The local image overrides.json maps python:3.11-slim to (built once if missing)."""
    import docker
    import docker.errors

    local = str(json.loads(OVERRIDES.read_text())["python:3.11-slim"])
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine ({exc}); run scripts/ensure-docker.sh")
    try:
        client.images.get(local)
    except docker.errors.ImageNotFound:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "build-base-images.sh")],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert proc.returncode == 0, f"building {local} failed:\n{proc.stdout}\n{proc.stderr}"
    finally:
        client.close()
    return local


@pytest.fixture(scope="session")
def service_images(
    python_base_image: str, staged_terraform: tuple[Path | None, str]
) -> Iterator[dict[str, str]]:
    """The five service images, each built from its target of the root Dockerfile."""
    import docker
    import docker.errors

    client = docker.from_env(timeout=1800)
    context = build_context(staged_terraform[0])
    images: dict[str, str] = {}
    # Every target starts from the same base stage, so only the first build installs the
    # dependencies; the rest hit the cache.
    for name in SERVICES:
        tag = f"autodeploy-ops/{name}:{IMAGE_TAG}"
        try:
            client.images.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                dockerfile="Dockerfile",
                target=name,
                buildargs={"PYTHON_IMAGE": python_base_image},
                tag=tag,
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as exc:
            log = "".join(str(chunk.get("stream", chunk)) for chunk in exc.build_log)
            pytest.fail(f"the Dockerfile's {name} target does not build:\n{log[-4000:]}")
        images[name] = tag
    yield images
    client.close()
