"""A build that fails on a host it cannot reach says so first, not only 'non-zero code'."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.capabilities.docker_local import DockerLocal, job_labels
from shared.contracts.errors import DeployError

from .conftest import new_job_id

pytestmark = pytest.mark.docker

# A build step that downloads from an outside host, as postinstall scripts do.
DOCKERFILE = """\
FROM node:20-slim
RUN node -e "require('https').get('https://assets.example.invalid/tool.tgz').on('error', \
(e) => { console.error(e.message); process.exit(1); })"
"""


def test_a_build_that_cannot_resolve_a_host_names_it(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    job_id = new_job_id()
    with pytest.raises(DeployError) as caught:
        target.build(
            tmp_path,
            tag=f"autodeploy-test/build-cause:{job_id}",
            on_log=lambda _line: None,
            image_overrides=base_images,
        )
    assert str(caught.value).startswith(
        "the build needs assets.example.invalid, a host this machine cannot reach"
    )
    target.teardown(job_labels(job_id))
