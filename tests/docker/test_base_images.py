"""The local base images tell the truth: a tag names the runtime version the image runs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings

import docker
import pytest

from shared.images import version_tuple
from tests.docker.conftest import OVERRIDES, ROOT

pytestmark = pytest.mark.docker

_PROBES = {
    "python": ["python3", "-c", "import platform; print(platform.python_version())"],
    "node": ["node", "-e", "console.log(process.versions.node)"],
}
_PRECISION = {"python": 2, "node": 1}


def _runs(client: docker.DockerClient, image: str, runtime: str) -> tuple[int, ...]:
    out = client.containers.run(image, _PROBES[runtime], remove=True, entrypoint=[])
    return version_tuple(out.decode().strip())


def test_every_official_version_maps_to_an_image_that_runs_its_tag_and_is_new_enough(
    docker_client: docker.DockerClient,
) -> None:
    """python:3.12-slim never lands on a Python 3.11, node:22 never on a Node 18."""
    mapping = json.loads(OVERRIDES.read_text())
    # Only images the build checked carry the runtime label; one built by an older
    # build-base-images.sh is rebuilt by `make images` and vouched for after that.
    labelled = {
        tag
        for image in docker_client.images.list(filters={"label": "autodeploy.runtime"})
        for tag in image.tags
    }
    unchecked = {
        local for local in mapping.values() if isinstance(local, str) and local not in labelled
    }
    if unchecked:
        warnings.warn(f"not built by the checking build yet: {sorted(unchecked)}", stacklevel=1)
    for runtime, precision in _PRECISION.items():
        wanted = {
            official: local
            for official, local in mapping.items()
            if official.startswith(runtime + ":")
            and len(version_tuple(official.partition(":")[2])) >= precision
            and local in labelled
        }
        runs = {
            local: _runs(docker_client, local, runtime)[:precision]
            for local in set(wanted.values())
        }
        assert runs, f"no local {runtime} image to check: run make images"
        for local, version in runs.items():
            claimed = version_tuple(local.rpartition(":")[2])[:precision]
            assert version == claimed, f"{local} runs {runtime} {version}"
        for official, local in wanted.items():
            asked = version_tuple(official.partition(":")[2])[:precision]
            if asked <= max(runs.values()):
                assert runs[local] >= asked, f"{official} -> {local} runs {runs[local]}"


def test_overrides_for_present_images_record_what_they_run(
    docker_client: docker.DockerClient,
) -> None:
    """The mapping `make dev` uses names only images whose runtime was checked at build."""
    printed = subprocess.run(
        [sys.executable, "scripts/base-image-overrides.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    runtimes = json.loads(printed)["_runtimes"]
    python_images = {ref: line for ref, line in runtimes.items() if line.startswith("python ")}
    assert python_images, "no labelled python image: run make images"
    for ref, line in python_images.items():
        assert _runs(docker_client, ref, "python") == version_tuple(line.split()[1])


def test_images_built_from_a_base_image_are_not_taken_for_one(
    docker_client: docker.DockerClient, base_images: dict[str, str]
) -> None:
    """An app image built FROM a local base image inherits its runtime labels, not its role."""
    base = base_images["python:3.13-slim"]
    tag = "autodeploy-test/derived-from-base:latest"
    docker_client.images.build(
        fileobj=io.BytesIO(f"FROM {base}\nENV DERIVED=1\n".encode()),
        tag=tag,
        rm=True,
    )
    try:
        printed = subprocess.run(
            [sys.executable, "scripts/base-image-overrides.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        mapping = json.loads(printed)
        named = set(mapping.pop("_runtimes")) | set(mapping.values())
        assert all(ref.startswith("autodeploy-local/") for ref in named), sorted(named)
    finally:
        docker_client.images.remove(tag, force=True)


def test_the_official_python_paths_run_the_python_that_has_pip(
    docker_client: docker.DockerClient,
) -> None:
    # Dockerfiles written for python:* call /usr/local/bin/python (`-m pip install
    # --upgrade pip`); through a symlink into the virtualenv that was Debian's python
    # without pip, and such a build failed at its first RUN.
    images = sorted(
        {
            ref
            for name, ref in json.loads(OVERRIDES.read_text()).items()
            if name.startswith("python:") and ref.startswith("autodeploy-local/python:")
        }
    )
    assert images
    for image in images:
        out = docker_client.containers.run(
            image,
            [
                "sh",
                "-c",
                "for p in /usr/local/bin/python /usr/local/bin/python3 "
                '/usr/local/bin/python3.*; do "$p" -m pip --version | cut -d " " -f 1; done',
            ],
            remove=True,
            entrypoint=[],
        )
        assert out.decode().split() == ["pip", "pip", "pip"], (image, out)
