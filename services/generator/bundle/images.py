"""Pinned base images; the override that air-gapped machines need lives in shared.images."""

from __future__ import annotations

from collections.abc import Mapping

from shared.images import apply_base_image_overrides, override_dockerfile_images, version_tuple

__all__ = [
    "BACKING_IMAGES",
    "IMAGES",
    "apply_base_image_overrides",
    "base_image_note",
    "declared_base_image",
    "override_dockerfile_images",
]

# Every base image the generator writes, in one place so a mirror can be prepared from
# this list. Tags name a minor release line, never ``latest``.
IMAGES: dict[str, str] = {
    "python": "python:3.12-slim",
    "node": "node:20-slim",
    "nginx": "nginx:1.27-alpine",
    "go": "golang:1.22",
    "alpine": "alpine:3.20",
    "debian": "debian:12-slim",
    "maven": "maven:3.9-eclipse-temurin-21",
    "gradle": "gradle:8.10-jdk21",
    "jre": "eclipse-temurin:21-jre-alpine",
    "dotnet-sdk": "mcr.microsoft.com/dotnet/sdk:8.0",
    "dotnet-runtime": "mcr.microsoft.com/dotnet/aspnet:8.0-alpine",
    "ruby": "ruby:3.3-slim",
    "php": "php:8.3-apache",
    "composer": "composer:2.7",
    "rust": "rust:1.80-slim",
    "elixir": "elixir:1.17",
    "deno": "denoland/deno:2.0.6",
    "bun": "oven/bun:1.4",
}

BACKING_IMAGES: dict[str, str] = {
    "postgres": "postgres:16-alpine",
    "mysql": "mysql:8.4",
    "redis": "redis:7.4-alpine",
    "mongodb": "mongo:7.0",
    "rabbitmq": "rabbitmq:3.13-alpine",
    "memcached": "memcached:1.6-alpine",
    "elasticsearch": "elasticsearch:8.15.3",
}


# Release lines with an official slim image; a declared version outside them (Python 2,
# an end-of-life Node) gets the default image rather than one that cannot exist.
_DECLARED_LINES = {"python": (2, (3, 8), (3, 14)), "node": (1, (18,), (26,))}


def declared_base_image(kind: str, version: tuple[int, ...]) -> str:
    """The official image for the runtime version a repository declares, else the default.

    ``("python", (3, 13))`` -> ``python:3.13-slim``; ``("node", (22, 1))`` -> ``node:22-slim``.
    """
    if kind not in _DECLARED_LINES:
        return IMAGES[kind]
    precision, low, high = _DECLARED_LINES[kind]
    line = version[:precision]
    if len(line) < precision or not low <= line <= high:
        return IMAGES[kind]
    return f"{kind}:{'.'.join(map(str, line))}-slim"


def base_image_note(
    kind: str,
    requested: str | None,
    overrides: Mapping[str, str],
    runtimes: Mapping[str, str],
) -> str | None:
    """One job-log line naming the runtime asked for and the image that provides it.

    "python 3.12 requested; using local image autodeploy-local/python:3.13-slim
    (python 3.13.5), the nearest newer" — None for stacks without a versioned runtime.
    """
    if kind in ("javascript", "typescript"):
        kind = "node"
    if kind not in _DECLARED_LINES:
        return None
    precision = _DECLARED_LINES[kind][0]
    asked = version_tuple(requested or "")
    official = declared_base_image(kind, asked)
    head = f"{kind} {requested} requested" if asked else f"no {kind} version declared"
    local = apply_base_image_overrides(official, overrides)
    if local == official:
        return f"{head}; base image {official}"
    runs = runtimes.get(local)
    if runs is None:
        return f"{head}; base image {official} mapped to {local} (what it runs is not recorded)"
    text = f"{head}; using local image {local} ({runs})"
    got = version_tuple(runs.rpartition(" ")[2])[:precision]
    if not asked or got == asked[:precision]:
        return text
    if got > asked[:precision]:
        return text + ", the nearest newer"
    return text + ", OLDER than requested: no local image is as new (make images builds them)"
