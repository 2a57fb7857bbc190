"""A repository's Dockerfile rewritten for the classic builder and Debian local images."""

from __future__ import annotations

import subprocess

import pytest

from shared.dockerfile_compat import UnsupportedInstruction, classic_builder_dockerfile

OVERRIDES = {
    "node:20-alpine": "autodeploy-local/node:20-slim",
    "python:3.11-alpine": "autodeploy-local/python:3.11-slim",
}


def test_apk_packages_are_installed_with_apt_under_debian_names() -> None:
    text = (
        "FROM python:3.11-alpine\n"
        "RUN apk update && apk add --no-cache --virtual .deps build-base \\\n"
        "    postgresql-dev gcompat && pip install psycopg2\n"
    )
    out, notes = classic_builder_dockerfile(text, OVERRIDES)
    assert "apk " not in out
    assert (
        "true && apt-get update && apt-get install -y --no-install-recommends build-essential "
        "libpq-dev && rm -rf /var/lib/apt/lists/* && pip install psycopg2" in out
    )
    assert notes == [
        "apk add build-base postgresql-dev gcompat -> apt-get install build-essential libpq-dev"
        " (gcompat: glibc shims Debian does not need)"
    ]


def test_apk_is_kept_where_the_alpine_image_itself_is_used() -> None:
    text = "FROM node:20-alpine\nRUN apk add --no-cache git\n"
    assert classic_builder_dockerfile(text, {}) == (text, [])


def test_a_stage_built_on_an_alpine_stage_is_alpine_too() -> None:
    text = "FROM node:20-alpine AS base\nFROM base AS deps\nRUN apk add git\n"
    out, _ = classic_builder_dockerfile(text, OVERRIDES)
    assert "apt-get install -y --no-install-recommends git" in out


def test_several_sources_copied_into_dot_get_the_trailing_slash() -> None:
    text = "FROM node:20-slim\nCOPY package*.json .\nCOPY a.js b.js .\nCOPY . .\nCOPY x.js .\n"
    out, notes = classic_builder_dockerfile(text, {})
    assert out.splitlines()[1:] == [
        "COPY package*.json ./",
        "COPY a.js b.js ./",
        "COPY . .",
        "COPY x.js .",
    ]
    assert len(notes) == 2


# --- BuildKit-only syntax (uv's Docker guide, heredocs) ----------------------------------

UV_GUIDE = (
    "# syntax=docker/dockerfile:1.7\n"
    "FROM python:3.12-slim\n"
    "WORKDIR /app\n"
    "RUN --mount=type=cache,target=/root/.cache/uv \\\n"
    "    --mount=type=bind,source=uv.lock,target=uv.lock \\\n"
    "    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\\n"
    "    uv sync --locked --no-install-project\n"
    "COPY --link . /app\n"
)


def test_bind_mounts_become_copies_before_the_run_and_cache_mounts_go() -> None:
    out, notes = classic_builder_dockerfile(UV_GUIDE, {})
    assert out.splitlines()[3:] == [
        "COPY uv.lock uv.lock",
        "COPY pyproject.toml pyproject.toml",
        "RUN uv sync --locked --no-install-project",
        "COPY . /app",
    ]
    assert "--mount" not in out and "--link" not in out
    assert len(notes) == 4
    assert notes[0].startswith("`--mount=type=cache,target=/root/.cache/uv` dropped")
    assert notes[1].startswith(
        "`--mount=type=bind,source=uv.lock,target=uv.lock` -> `COPY uv.lock uv.lock`"
    )


def test_a_bind_mount_from_a_stage_copies_from_that_stage() -> None:
    text = "FROM node:20-slim\nRUN --mount=type=bind,from=build,source=/out,target=/srv ls /srv\n"
    out, _ = classic_builder_dockerfile(text, {})
    assert out.splitlines()[1:] == ["COPY --from=build /out /srv", "RUN ls /srv"]


def test_flags_the_classic_builder_knows_leave_the_file_alone() -> None:
    text = "FROM node:20-slim AS build\nCOPY --from=build --chown=node:node /a /b\n"
    assert classic_builder_dockerfile(text, {}) == (text, [])


def test_run_heredoc_becomes_one_line_running_the_same_script() -> None:
    text = (
        "FROM debian:12\n"
        "RUN <<EOF\n"
        "set -e\n"
        "echo \"$HOME\" 'it''s'\n"
        "EOF\n"
        "RUN python3 - <<PY > /out\n"
        "print(1 << 2)\n"
        "PY\n"
        'CMD ["true"]\n'
    )
    out, notes = classic_builder_dockerfile(text, {})
    lines = out.splitlines()
    assert len(lines) == 4 and lines[3] == 'CMD ["true"]'
    assert lines[1].startswith('RUN eval "$(printf ')
    assert lines[2].startswith('RUN eval "$(printf ')
    assert len(notes) == 2
    # What the shell would eval: the script itself, byte for byte.
    for line, script in (
        (lines[1], "set -e\necho \"$HOME\" 'it''s'"),
        (lines[2], "python3 - <<PY > /out\nprint(1 << 2)\nPY"),
    ):
        inner = line.removeprefix('RUN eval "$(').removesuffix(')"')
        shown = subprocess.run(["sh", "-c", inner], capture_output=True, text=True, check=True)
        assert shown.stdout.rstrip("\n") == script


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        (
            "FROM python:3.12\nRUN --mount=type=secret,id=pypi pip install -r r.txt\n",
            2,
            "a --mount of type secret has no classic-builder equivalent",
        ),
        ("FROM python:3.12\nCOPY --chmod=755 run.sh /run.sh\n", 2, "COPY --chmod needs BuildKit"),
        ("FROM python:3.12\n\nRUN --security=insecure true\n", 3, "RUN --security"),
        ("FROM debian:12\nCOPY <<EOF /etc/motd\nhi\nEOF\n", 2, "a heredoc in COPY needs BuildKit"),
        ("FROM debian:12\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n", 2, "interpreter"),
    ],
)
def test_what_has_no_equivalent_is_named_with_its_line(text: str, line: int, why: str) -> None:
    with pytest.raises(UnsupportedInstruction) as caught:
        classic_builder_dockerfile(text, {})
    assert caught.value.line == line
    assert f"line {line}: `" in str(caught.value)
    assert why in str(caught.value)
