"""A repository's own Dockerfile builds from the local base images, or fails naming the image."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from shared.capabilities.docker_local import DockerLocal, job_labels
from shared.contracts.errors import DeployError
from shared.images import load_base_image_runtimes, older_local_image

from .conftest import OVERRIDES, new_job_id, wait_for_http

pytestmark = pytest.mark.docker

# Written as a repository would: official image names, a patch-level tag, two stages.
REPO_DOCKERFILE = """\
FROM python:3.13.1-slim-bookworm AS build
RUN python -c "import sys; open('/version', 'w').write(sys.version.split()[0])"

FROM python:3.13-slim
COPY --from=build /version /srv/version
WORKDIR /srv
EXPOSE 8000
CMD ["python", "-m", "http.server", "8000"]
"""


def test_repository_dockerfile_builds_from_the_mapped_local_image(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(REPO_DOCKERFILE)
    job_id = new_job_id()
    labels = job_labels(job_id)
    log: list[str] = []
    try:
        tag = f"autodeploy-test/repo-dockerfile:{job_id}"
        target.build(tmp_path, tag=tag, on_log=log.append, image_overrides=base_images)
        app = target.run(
            tag, name=f"autodeploy-{job_id}", container_port=8000, env={}, labels=labels
        )
        answer = wait_for_http(f"{app.url}/version")
        assert answer.text.startswith("3.13.")
        assert (
            "base image python:3.13.1-slim-bookworm -> autodeploy-local/python:3.13-slim "
            "(BASE_IMAGE_OVERRIDES)"
        ) in log
        assert (tmp_path / "Dockerfile").read_text() == REPO_DOCKERFILE  # the repo's file stays
    finally:
        target.teardown(labels)


def test_base_image_missing_everywhere_is_named_in_the_failure(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text('FROM example-org/not-built-here:1.0\nCMD ["true"]\n')
    job_id = new_job_id()
    with pytest.raises(DeployError) as caught:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/missing-base:{job_id}",
            on_log=lambda _line: None,
            image_overrides=base_images,
        )
    message = str(caught.value)
    assert message.startswith(
        "base image example-org/not-built-here:1.0 is not on this Docker engine"
    )
    assert "BASE_IMAGE_OVERRIDES" in message
    target.teardown(job_labels(job_id))


def test_failing_step_on_a_stand_in_image_names_both_images(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    # A repository asks for a version this machine has no image of; the stand-in runs
    # another one, and a step that fails there (a pinned package without a wheel for it)
    # must say which image stood in for which, not only the step's exit code.
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nRUN exit 3\n")
    job_id = new_job_id()
    stand_in = base_images["python:3.12-slim"]
    with pytest.raises(DeployError) as caught:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/stand-in:{job_id}",
            on_log=lambda _line: None,
            image_overrides=base_images,
        )
    message = str(caught.value)
    assert message.startswith(f"built on {stand_in} in place of python:3.12-slim"), message
    assert "returned a non-zero code" in message
    target.teardown(job_labels(job_id))


def test_buster_dockerfile_installing_netcat_builds_on_the_bookworm_stand_in(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    # Written for python:*-slim-buster, where `netcat` was a real (transitional) package;
    # the stand-in is bookworm, where the name is virtual ("has no installation candidate").
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.9-slim-buster\n"
        "RUN apt-get update && apt-get install -y netcat && command -v nc\n"
    )
    job_id = new_job_id()
    log: list[str] = []
    try:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/netcat:{job_id}",
            on_log=log.append,
            image_overrides=base_images,
        )
        assert "/usr/bin/nc" in log or "/bin/nc" in log, log[-5:]
    finally:
        target.teardown(job_labels(job_id))


def test_build_failing_on_the_newer_stand_in_is_retried_one_minor_older(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    # python:3.12-slim has no local image; the nearest newer (3.13) is tried first. A step
    # that cannot work there (here: refuses 3.13, as a pinned wheel-less package does) is
    # retried on the newest older image, and the log says which and why.
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.12-slim\n"
        'RUN python -c "import sys; sys.exit(sys.version_info[:2] >= (3, 13))"\n'
        'CMD ["python", "-c", "print(1)"]\n'
    )
    runtimes = load_base_image_runtimes(str(OVERRIDES))
    job_id = new_job_id()
    log: list[str] = []
    try:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/older:{job_id}",
            on_log=log.append,
            image_overrides=base_images,
            image_runtimes=runtimes,
        )
        retry = [line for line in log if line.startswith("the build failed on ")]
        assert retry == [
            f"the build failed on {base_images['python:3.12-slim']} (newer than "
            "python:3.12-slim); retrying on autodeploy-local/python:3.11-slim (python 3.11, "
            "older than python:3.12-slim asks: no exact image here)"
        ]
    finally:
        target.teardown(job_labels(job_id))


def _sdist_only_pin(root: Path, *, base: str) -> None:
    """A Dockerfile FROM ``base`` that pip-installs a pin published as a source archive only
    (as numpy==2.0.1 is for 3.13), from a folder of the context, and prints the Python the
    image was built on ("built on 3 11")."""
    # pip builds it on request, and refuses it under wheels-only at once.
    name = "autodeploy_test_nowheel-1.0"
    src = root / "src" / name
    (src / "autodeploy_test_nowheel").mkdir(parents=True)
    (src / "autodeploy_test_nowheel" / "__init__.py").write_text("VALUE = 1\n")
    (src / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='autodeploy-test-nowheel', version='1.0',"
        " packages=['autodeploy_test_nowheel'])\n"
    )
    (root / "dist").mkdir()
    with tarfile.open(root / "dist" / f"{name}.tar.gz", "w:gz") as tar:
        tar.add(src, arcname=name)
    (root / "Dockerfile").write_text(
        f"FROM {base}\n"
        "COPY dist /dist\n"
        "RUN pip install --find-links /dist autodeploy-test-nowheel==1.0\n"
        "RUN python -c \"import sys; print('built on', *sys.version_info[:2])\"\n"
    )


def test_the_newer_stand_in_installs_wheels_only_and_a_pin_without_one_moves_older(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    # python:3.12-slim on the local 3.13: a pinned package with no 3.13 wheel would make pip
    # compile it (numpy, pandas: minutes, past BUILD_TIMEOUT_S). The newer image's stages
    # install wheels only, so such a pin fails at once and the build moves to 3.11, where
    # the wheels the pins were chosen with exist. Here a local package that is only a
    # source archive stands for such a pin; the image says which Python it was built on.
    _sdist_only_pin(tmp_path, base="python:3.12-slim")
    job_id = new_job_id()
    log: list[str] = []
    try:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/wheels:{job_id}",
            on_log=log.append,
            image_overrides=base_images,
            image_runtimes=load_base_image_runtimes(str(OVERRIDES)),
        )
        assert any("with wheels only (PIP_ONLY_BINARY=:all:)" in line for line in log), log
        assert any(line.startswith("the build failed on ") for line in log), log
        assert "built on 3 11" in log, log[-8:]
    finally:
        target.teardown(job_labels(job_id))


def test_a_dockerfile_on_the_newest_python_for_no_declared_version_moves_older_too(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    # What the generator writes when the repository declares no Python: the local image
    # itself, newest first. The provisioner names the older one; a pin with no wheel for
    # the newest moves the build there, as for a repository's own Dockerfile.
    newest = base_images["python:3.13-slim"]
    runtimes = load_base_image_runtimes(str(OVERRIDES))
    older = older_local_image(newest, runtimes)
    assert older is not None
    _sdist_only_pin(tmp_path, base=newest)
    job_id = new_job_id()
    log: list[str] = []
    try:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/undeclared:{job_id}",
            on_log=log.append,
            image_runtimes=runtimes,
            older_images={newest: older},
        )
        assert any("as no version is declared) with wheels only" in ln for ln in log), log
        assert "built on 3 11" in log, log[-8:]
    finally:
        target.teardown(job_labels(job_id))


def test_when_the_older_image_fails_too_the_newer_one_builds_without_the_wheel_rule(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    # Code that needs the newer Python and a package it must compile: the wheels-only try
    # and the older image both fail, then the newer image builds as the Dockerfile says.
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.12-slim\n"
        'RUN test -z "$PIP_ONLY_BINARY"\n'
        'RUN python -c "import sys; sys.exit(sys.version_info < (3, 13))"\n'
    )
    job_id = new_job_id()
    log: list[str] = []
    try:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/third:{job_id}",
            on_log=log.append,
            image_overrides=base_images,
            image_runtimes=load_base_image_runtimes(str(OVERRIDES)),
        )
        assert any("again, compiling what has no wheel" in line for line in log), log[-8:]
    finally:
        target.teardown(job_labels(job_id))


def test_no_retry_when_the_exact_version_was_built(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN exit 3\n")
    job_id = new_job_id()
    log: list[str] = []
    with pytest.raises(DeployError):
        target.build(
            tmp_path,
            tag=f"autodeploy-test/exact:{job_id}",
            on_log=log.append,
            image_overrides=base_images,
            image_runtimes=load_base_image_runtimes(str(OVERRIDES)),
        )
    assert not [line for line in log if line.startswith("the build failed on ")]
    target.teardown(job_labels(job_id))
