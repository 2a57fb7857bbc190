"""Tool images (uv, Bun, Deno) named by FROM or COPY --from map onto honest local ones."""

from __future__ import annotations

import pytest

from shared.images import (
    RUNTIMES_KEY,
    LocalImage,
    apply_base_image_overrides,
    dockerfile_base_images,
    override_dockerfile_images,
    override_mapping,
)

UV = LocalImage("local/uv:0.13.10", "uv", "0.13.10")
BUN = LocalImage("local/bun:1.4.5", "bun", "1.4.5")
DENO = LocalImage("local/deno:2.9.6", "deno", "2.9.6")
PY313 = LocalImage("local/python:3.13-slim", "python", "3.13.5")


def _mapping() -> dict[str, str]:
    mapping = override_mapping([UV, BUN, DENO, PY313])
    runtimes = mapping.pop(RUNTIMES_KEY)
    assert runtimes == {
        "local/bun:1.4.5": "bun 1.4.5",
        "local/deno:2.9.6": "deno 2.9.6",
        "local/python:3.13-slim": "python 3.13.5",
        "local/uv:0.13.10": "uv 0.13.10",
    }
    return {k: str(v) for k, v in mapping.items()}


@pytest.mark.parametrize(
    ("official", "local"),
    [
        ("ghcr.io/astral-sh/uv:0.9.26", UV.ref),
        ("ghcr.io/astral-sh/uv:0.13", UV.ref),
        ("ghcr.io/astral-sh/uv:latest", UV.ref),
        ("ghcr.io/astral-sh/uv", UV.ref),
        ("oven/bun:1", BUN.ref),
        ("oven/bun:1.1.38-alpine", BUN.ref),
        ("oven/bun:latest", BUN.ref),
        ("denoland/deno:2.0.6", DENO.ref),
        ("denoland/deno:debian-2.1.4", DENO.ref),
    ],
)
def test_tool_image_tags_map_to_the_local_image(official: str, local: str) -> None:
    assert apply_base_image_overrides(official, _mapping()) == local


@pytest.mark.parametrize(
    "official",
    [
        # uv AND Python: the bare uv image (two binaries) would lie about the Python part.
        "ghcr.io/astral-sh/uv:0.9.26-python3.12-bookworm-slim",
        # Deno 1 is not what a Deno 2 image runs, and newer is the only direction we map.
        "denoland/deno:alpine-1.46.3",
    ],
)
def test_tags_that_promise_more_than_the_local_image_stay_unmapped(official: str) -> None:
    assert apply_base_image_overrides(official, _mapping()) == official


def test_copy_from_an_image_is_mapped_and_listed_but_stages_are_not() -> None:
    text = (
        "FROM oven/bun:1 AS frontend-build\n"
        "RUN bun install\n"
        "FROM python:3.14\n"
        "COPY --from=ghcr.io/astral-sh/uv:0.9.26 /uv /uvx /bin/\n"
        "COPY --from=frontend-build /app/dist /app/dist\n"
        "COPY --chown=1000 --from=0 /x /y\n"
    )
    assert dockerfile_base_images(text) == [
        "oven/bun:1",
        "python:3.14",
        "ghcr.io/astral-sh/uv:0.9.26",
    ]
    out = override_dockerfile_images(text, _mapping()).splitlines()
    assert out[0] == f"FROM {BUN.ref} AS frontend-build"
    assert out[3] == f"COPY --from={UV.ref} /uv /uvx /bin/"
    assert out[4:] == text.splitlines()[4:]
