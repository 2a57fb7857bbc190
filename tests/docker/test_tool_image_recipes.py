"""The generator's Bun and Deno recipes build on the local tool images and serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.generator.bundle import generate_bundle
from shared.capabilities.docker_local import DockerLocal, job_labels
from tests.generator.stacks import make_analysis

from .conftest import new_job_id, wait_for_http

pytestmark = pytest.mark.docker

# Small apps of our own, shaped like a `bun init` server and a Deno.serve one.
BUN_APP = {
    "index.ts": (
        "Bun.serve({ hostname: '0.0.0.0', port: Number(process.env.PORT ?? 3000),\n"
        "  fetch: () => new Response('bun ' + Bun.version) });\n"
    ),
    "package.json": '{"name": "bun-app", "scripts": {"start": "bun run index.ts"}}\n',
}
DENO_APP = {
    "main.ts": (
        "Deno.serve({ port: Number(Deno.env.get('PORT') ?? 8000) },\n"
        "  () => new Response('deno ' + Deno.version.deno));\n"
    ),
    "deno.json": '{"tasks": {"start": "deno run --allow-net --allow-env main.ts"}}\n',
}


@pytest.mark.parametrize(
    ("files", "framework", "port", "answer"),
    [(BUN_APP, "bun", 3000, "bun "), (DENO_APP, "deno", 8000, "deno ")],
    ids=["bun", "deno"],
)
def test_generated_recipe_builds_on_the_local_tool_image(
    target: DockerLocal,
    tool_images: dict[str, str],
    tmp_path: Path,
    files: dict[str, str],
    framework: str,
    port: int,
    answer: str,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    analysis = make_analysis(
        "typescript", framework, sorted(files), port=port, package_manager=framework
    )
    bundle = generate_bundle(analysis, job_id="tool-recipe", base_images=tool_images)
    dockerfile = bundle["Dockerfile"]
    local = next(line for line in dockerfile.splitlines() if line.startswith("FROM "))[5:]
    assert local.startswith(f"autodeploy-local/{framework}:")
    (tmp_path / "Dockerfile").write_text(dockerfile)
    job_id = new_job_id()
    labels = job_labels(job_id)
    try:
        tag = f"autodeploy-test/{framework}-recipe:{job_id}"
        target.build(tmp_path, tag=tag, on_log=lambda _: None)
        app = target.run(
            tag, name=f"autodeploy-{job_id}", container_port=port, env={}, labels=labels
        )
        # The runtime that answers is the version the local image's tag names.
        assert wait_for_http(app.url).text == answer + local.rpartition(":")[2]
    finally:
        target.teardown(labels)
