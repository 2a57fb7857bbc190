"""A repository's Node Dockerfile written for Alpine and BuildKit builds on the local images."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.capabilities.docker_local import DockerLocal, job_labels

from .conftest import new_job_id, wait_for_http

pytestmark = pytest.mark.docker

# Written as a repository would: an Alpine tag, the glibc shim Alpine images need for some
# native modules, a wildcard COPY into `.` (fine for BuildKit, refused by the classic
# builder), and the Debian-style long options of addgroup/adduser.
ALPINE_DOCKERFILE = """\
FROM node:20-alpine AS base

FROM base AS deps
RUN apk add --no-cache libc6-compat
WORKDIR /app
COPY package*.json .

FROM base
WORKDIR /app
RUN addgroup --system --gid 1001 web && adduser --system --uid 1001 web
COPY --from=deps /app/package*.json .
COPY server.js .
USER web
EXPOSE 3000
CMD ["node", "server.js"]
"""
SERVER = """\
const http = require("http");
const pkg = require("./package.json");
http.createServer((req, res) => res.end(pkg.name + " " + process.version)).listen(3000);
"""


def test_alpine_node_dockerfile_builds_on_the_debian_local_image(
    target: DockerLocal, base_images: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(ALPINE_DOCKERFILE)
    (tmp_path / "server.js").write_text(SERVER)
    (tmp_path / "package.json").write_text('{"name": "alpine-shaped"}\n')
    (tmp_path / "package-lock.json").write_text('{"name": "alpine-shaped"}\n')
    job_id = new_job_id()
    labels = job_labels(job_id)
    log: list[str] = []
    try:
        tag = f"autodeploy-test/alpine-dockerfile:{job_id}"
        target.build(
            tmp_path, tag=tag, on_log=log.append, image_overrides=base_images
        )
        app = target.run(
            tag, name=f"autodeploy-{job_id}", container_port=3000, env={}, labels=labels
        )
        assert wait_for_http(app.url).text.startswith("alpine-shaped v20.")
        rewrites = [line for line in log if line.startswith("Dockerfile rewritten")]
        assert any("apk add libc6-compat -> nothing" in line for line in rewrites), log
        assert any("`COPY package*.json ./`" in line for line in rewrites), log
        assert (tmp_path / "Dockerfile").read_text() == ALPINE_DOCKERFILE
    finally:
        target.teardown(labels)
