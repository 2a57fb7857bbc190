"""A repository's Dockerfile rewritten for the classic builder and Debian local images."""

from __future__ import annotations

from shared.dockerfile_compat import classic_builder_dockerfile

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
