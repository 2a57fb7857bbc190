"""Bun and Deno apps without a Dockerfile are built on the Bun and Deno images, mapped locally."""

from __future__ import annotations

from pathlib import Path

from services.generator.bundle import generate_bundle
from shared.images import load_base_image_overrides
from tests.generator.stacks import STACKS, make_analysis

CATALOGUE = Path(__file__).resolve().parents[2] / "deploy" / "base-images" / "overrides.json"


def _dockerfile(name: str, *, local: bool) -> str:
    images = load_base_image_overrides(str(CATALOGUE)) if local else None
    files = generate_bundle(STACKS[name], job_id="job-1", base_images=images)
    return files["Dockerfile"]


def test_a_bun_serve_app_runs_on_bun_not_node() -> None:
    text = _dockerfile("bun", local=False)
    assert "FROM oven/bun:1.4\n" in text
    assert "FROM node" not in text and "npm " not in text
    assert "COPY package.json bun.lockb ./\n" in text
    # The binary lock is migrated on install, so it cannot be installed frozen.
    assert "RUN bun install --production\n" in text
    assert "USER 1000\n" in text
    assert 'CMD ["sh", "-c", "exec bun run index.ts"]' in text


def test_a_text_bun_lock_is_installed_frozen() -> None:
    analysis = make_analysis(
        "typescript", "bun", ["index.ts", "package.json", "bun.lock"], port=3000
    )
    text = generate_bundle(analysis, job_id="job-1")["Dockerfile"]
    assert "RUN bun install --production --frozen-lockfile\n" in text
    assert 'CMD ["sh", "-c", "exec bun run start"]' in text


def test_bun_lock_with_a_bun_start_command_is_a_bun_app_but_node_start_is_not() -> None:
    tree = ["server.js", "package.json", "bun.lockb"]
    on_bun = make_analysis(
        "javascript", "express", tree, port=3000, start="bun server.js", package_manager="bun"
    )
    on_node = make_analysis(
        "javascript", "express", tree, port=3000, start="node server.js", package_manager="bun"
    )
    assert "FROM oven/bun:1.4\n" in generate_bundle(on_bun, job_id="j")["Dockerfile"]
    assert "FROM oven/bun" not in generate_bundle(on_node, job_id="j")["Dockerfile"]


def test_bun_and_deno_recipes_use_the_local_tool_images() -> None:
    assert "FROM autodeploy-local/bun:1.4.5\n" in _dockerfile("bun", local=True)
    assert "FROM autodeploy-local/deno:2.9.6\n" in _dockerfile("deno", local=True)
