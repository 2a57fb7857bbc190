"""A Dockerfile in BuildKit-only syntax, with tool images, builds on the classic builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.capabilities.docker_local import DeployError, DockerLocal, job_labels

from .conftest import new_job_id, wait_for_http

pytestmark = pytest.mark.docker

# Written as a repository following uv's and Bun's Docker guides would: a syntax line, a
# Bun build stage from the official tag, uv copied out of its image, cache and bind mounts,
# COPY --link and a heredoc RUN. Nothing here needs a registry (uv only reports itself).
BUILDKIT_DOCKERFILE = """\
# syntax=docker/dockerfile:1.7
FROM oven/bun:1 AS assets
WORKDIR /src
COPY page.txt ./
RUN bun -e "await Bun.write('out.txt', (await Bun.file('page.txt').text()).toUpperCase())"

FROM python:3.12-slim
COPY --from=ghcr.io/astral-sh/uv:0.9.26 /uv /uvx /bin/
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/uv \\
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\
    grep -q 'name = "tool-images"' pyproject.toml && uv --version > /app/uv.txt
COPY --link --from=assets /src/out.txt /app/
RUN <<EOF
set -e
echo "heredoc ran in $(pwd)" > /app/heredoc.txt
EOF
COPY server.py .
EXPOSE 8000
CMD ["python3", "server.py"]
"""
SERVER = """\
import http.server

BODY = b"".join(open(name, "rb").read() for name in ("uv.txt", "out.txt", "heredoc.txt"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(BODY)


http.server.HTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""


def test_buildkit_syntax_and_tool_images_build_and_run(
    target: DockerLocal, tool_images: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(BUILDKIT_DOCKERFILE)
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "page.txt").write_text("hello from bun\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tool-images"\n')
    job_id = new_job_id()
    labels = job_labels(job_id)
    log: list[str] = []
    uv_image = tool_images["ghcr.io/astral-sh/uv:0.9"]
    try:
        tag = f"autodeploy-test/buildkit-dockerfile:{job_id}"
        target.build(
            tmp_path, tag=tag, on_log=log.append, image_overrides=tool_images
        )
        app = target.run(
            tag, name=f"autodeploy-{job_id}", container_port=8000, env={}, labels=labels
        )
        body = wait_for_http(app.url).text
        # The uv inside is the one the local image's tag names, not the 0.9.26 asked for.
        assert f"uv {uv_image.rpartition(':')[2]}" in body, body
        assert "HELLO FROM BUN" in body, body
        assert "heredoc ran in /app" in body, body
        assert f"base image ghcr.io/astral-sh/uv:0.9.26 -> {uv_image} (BASE_IMAGE_OVERRIDES)" in log
        rewrites = [line for line in log if line.startswith("Dockerfile rewritten")]
        assert len(rewrites) == 4, rewrites  # cache mount, bind mount, --link, heredoc
        assert (tmp_path / "Dockerfile").read_text() == BUILDKIT_DOCKERFILE
    finally:
        target.teardown(labels)


def test_a_secret_mount_fails_the_build_naming_the_instruction_and_line(
    target: DockerLocal, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.12-slim\n\nRUN --mount=type=secret,id=token cat /run/secrets/token\n"
    )
    with pytest.raises(DeployError) as caught:
        target.build(tmp_path, tag="autodeploy-test/secret:x", on_log=lambda _: None)
    message = str(caught.value)
    assert "line 3: `RUN --mount=type=secret,id=token cat /run/secrets/token`" in message
    assert "a --mount of type secret has no classic-builder equivalent" in message
