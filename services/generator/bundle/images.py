"""Pinned base images and the registry override that air-gapped machines need."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "BACKING_IMAGES",
    "IMAGES",
    "apply_base_image_overrides",
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

_FROM_RE = re.compile(
    r"^(?P<head>\s*FROM\s+(?:--platform=\S+\s+)?)(?P<image>\S+)(?P<tail>.*)$", re.IGNORECASE
)
_STAGE_RE = re.compile(r"\bAS\s+(?P<stage>\S+)", re.IGNORECASE)


def _has_registry_host(image: str) -> bool:
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def apply_base_image_overrides(image: str, overrides: Mapping[str, str]) -> str:
    """Map ``image`` through ``overrides``: exact names first, then the longest ``prefix*`` rule.

    ``{"python:3.12-slim": "autodeploy-local/python:3.12-slim"}`` replaces one image;
    ``{"*": "mirror.example:5000/library/"}`` prepends a registry to every Docker Hub
    image (images already naming a registry host are left alone by ``*``);
    ``{"mcr.microsoft.com/*": "mirror.example:5000/mcr/"}`` swaps one registry prefix.
    """
    if image in overrides:
        return overrides[image]
    best: tuple[int, str] | None = None
    for key, value in overrides.items():
        if not key.endswith("*"):
            continue
        prefix = key[:-1]
        if prefix == "" and _has_registry_host(image):
            continue
        if image.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), value + image[len(prefix) :])
    return best[1] if best else image


def override_dockerfile_images(dockerfile: str, overrides: Mapping[str, str]) -> str:
    """Rewrite every ``FROM`` line that names an image rather than an earlier build stage."""
    if not overrides:
        return dockerfile
    stages: set[str] = set()
    out: list[str] = []
    for line in dockerfile.splitlines():
        match = _FROM_RE.match(line)
        if match:
            image = match.group("image")
            if image.lower() not in stages:
                line = (
                    match.group("head")
                    + apply_base_image_overrides(image, overrides)
                    + (match.group("tail"))
                )
            stage = _STAGE_RE.search(match.group("tail"))
            if stage:
                stages.add(stage.group("stage").lower())
        out.append(line)
    return "\n".join(out) + ("\n" if dockerfile.endswith("\n") else "")
