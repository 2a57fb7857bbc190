"""Requested runtime versions -> honest local base images, and the job-log line naming both."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.generator.bundle import generate_bundle
from services.generator.bundle.images import base_image_note, declared_base_image
from shared.images import (
    RUNTIMES_KEY,
    LocalImage,
    apply_base_image_overrides,
    load_base_image_runtimes,
    override_mapping,
    pick_image,
)
from tests.generator.stacks import make_analysis

ROOT = Path(__file__).resolve().parents[2]
PY311 = LocalImage("local/python:3.11-slim", "python", "3.11.2")
PY313 = LocalImage("local/python:3.13-slim", "python", "3.13.5")
NODE22 = LocalImage("local/node:22-slim", "node", "22.23.5")
NODE24 = LocalImage("local/node:24-slim", "node", "24.22.3")
PRESENT = [PY311, PY313, NODE22, NODE24]


@pytest.mark.parametrize(
    ("requested", "expected", "how"),
    [
        ((3, 11), PY311, "exact"),
        ((3, 13, 1), PY313, "exact"),
        ((3, 12), PY313, "nearest newer"),
        ((3, 9), PY311, "nearest newer"),
        ((3, 14), PY313, "older"),
        ((), PY313, "newest"),
    ],
)
def test_pick_image_exact_else_nearest_newer(
    requested: tuple[int, ...], expected: LocalImage, how: str
) -> None:
    assert pick_image(requested, [PY313, PY311], precision=2) == (expected, how)


@pytest.mark.parametrize(
    ("official", "local"),
    [
        ("python:3.12-slim", PY313.ref),
        ("python:3.11.4-slim-bookworm", PY311.ref),
        ("python:3.11.3-slim-buster", PY311.ref),
        ("python:3.10-alpine", PY311.ref),
        ("python:3", PY313.ref),
        ("python:3.13", PY313.ref),
        ("node:20-alpine3.19", NODE22.ref),
        ("node:22.11.0-bookworm-slim", NODE22.ref),
        ("node:lts", NODE24.ref),
        ("node:24", NODE24.ref),
    ],
)
def test_mapping_sends_official_names_to_the_honest_image(official: str, local: str) -> None:
    mapping = override_mapping(PRESENT)
    overrides = {k: str(v) for k, v in mapping.items() if not k.startswith("_")}
    assert apply_base_image_overrides(official, overrides) == local


def test_mapping_records_what_each_image_runs_and_skips_absent_runtimes(tmp_path: Path) -> None:
    mapping = override_mapping(PRESENT)
    assert mapping[RUNTIMES_KEY] == {
        "local/node:22-slim": "node 22.23.5",
        "local/node:24-slim": "node 24.22.3",
        "local/python:3.11-slim": "python 3.11.2",
        "local/python:3.13-slim": "python 3.13.5",
    }
    assert "nginx:1.27-alpine" not in mapping  # no local nginx: the name stays official
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps(mapping))
    assert load_base_image_runtimes(str(path))["local/python:3.13-slim"] == "python 3.13.5"


def test_checked_in_overrides_file_is_the_catalogue_mapping() -> None:
    """deploy/base-images/overrides.json never maps a version onto an image that lies."""
    printed = subprocess.run(
        [sys.executable, "scripts/base-image-overrides.py", "--catalogue"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    checked_in = json.loads((ROOT / "deploy/base-images/overrides.json").read_text())
    assert checked_in == json.loads(printed)
    assert checked_in["python:3.13-slim"] == "autodeploy-local/python:3.13-slim"
    assert checked_in["python:3.12-slim"] == "autodeploy-local/python:3.13-slim"
    assert checked_in["node:22-alpine"] == "autodeploy-local/node:22-slim"


@pytest.mark.parametrize(
    ("kind", "version", "image"),
    [
        ("python", (3, 13), "python:3.13-slim"),
        ("python", (3, 14, 0), "python:3.14-slim"),
        ("python", (2, 7), "python:3.12-slim"),
        ("python", (3,), "python:3.12-slim"),
        ("node", (22,), "node:22-slim"),
        ("node", (24, 1), "node:24-slim"),
        ("node", (14,), "node:20-slim"),
    ],
)
def test_declared_base_image(kind: str, version: tuple[int, ...], image: str) -> None:
    assert declared_base_image(kind, version) == image


@pytest.mark.parametrize(
    ("language", "framework", "tree", "version", "image"),
    [
        ("python", "flask", ["app.py", "requirements.txt"], "3.13", "local/python:3.13-slim"),
        ("python", "fastapi", ["main.py", "requirements.txt"], "3.11", "local/python:3.11-slim"),
        ("node", "express", ["server.js", "package.json"], "24", "local/node:24-slim"),
        ("node", "next", ["package.json", "pages/index.js"], "24.3", "local/node:24-slim"),
    ],
)
def test_generated_dockerfile_follows_the_declared_version(
    language: str, framework: str, tree: list[str], version: str, image: str
) -> None:
    analysis = make_analysis(language, framework, tree, port=8000)
    analysis.runtime_version = version
    overrides = {k: str(v) for k, v in override_mapping(PRESENT).items() if k[0] != "_"}
    dockerfile = generate_bundle(analysis, job_id="j", base_images=overrides)["Dockerfile"]
    assert set(re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)) == {image}


def test_base_image_note_names_request_and_image() -> None:
    mapping = override_mapping(PRESENT)
    overrides = {k: str(v) for k, v in mapping.items() if not k.startswith("_")}
    runtimes = mapping[RUNTIMES_KEY]
    assert isinstance(runtimes, dict)
    assert base_image_note("python", "3.13", overrides, runtimes) == (
        "python 3.13 requested; using local image local/python:3.13-slim (python 3.13.5)"
    )
    assert base_image_note("python", "3.12", overrides, runtimes) == (
        "python 3.12 requested; using local image local/python:3.13-slim (python 3.13.5), "
        "the nearest newer"
    )
    older = base_image_note("python", "3.14", overrides, runtimes)
    assert older is not None and "OLDER than requested" in older
    assert base_image_note("typescript", "20", overrides, runtimes) == (
        "node 20 requested; using local image local/node:22-slim (node 22.23.5), the nearest newer"
    )
    assert base_image_note("node", None, {}, {}) == (
        "no node version declared; base image node:20-slim"
    )
    assert base_image_note("go", "1.22", overrides, runtimes) is None
