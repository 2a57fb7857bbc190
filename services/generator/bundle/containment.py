"""Checks that keep a bundle inside the job's folder and its builds inside their sandbox.

A compose file decides what ``docker compose`` reads from the host: the build context,
the Dockerfile, bind mounts, env files, secrets and configs. A proposed compose file
(the LLM's, say) that points any of them at ``..``, an absolute path, ``~`` or a remote
URL would send host files into an image or a container, so each is refused with the
key that holds it. Dockerfiles, named as such or named by a compose file, go through
the shared build rules (no remote ``ADD``, no host network or insecure ``RUN``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any

from shared.build_policy import check_dockerfile
from shared.contracts.violations import Violation

__all__ = [
    "check_compose_paths",
    "check_dockerfile_text",
    "compose_dockerfiles",
    "host_path_problem",
]

_URL_RE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[\w.-]+@[\w.-]+:)")


def host_path_problem(value: object) -> str | None:
    """Why ``value`` as a compose path would leave the job's folder, or None if it stays."""
    if not isinstance(value, str) or not value:
        return "is not a path"
    if _URL_RE.match(value):
        return "is a remote location; only paths inside the job's folder are built or read"
    if value.startswith("~"):
        return "starts with ~ (a home directory on the host)"
    if value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value):
        return "is an absolute host path"
    if "$" in value:
        return "holds a variable, which could expand to any host path"
    if ".." in re.split(r"[\\/]", value):
        return "climbs out with '..'"
    return None


def compose_dockerfiles(compose_path: str, doc: Mapping[str, Any]) -> dict[str, str]:
    """Bundle paths of the Dockerfiles a compose document builds -> the service naming each."""
    base = posixpath.dirname(compose_path)
    found: dict[str, str] = {}
    for name, svc in _services(doc):
        build = svc.get("build")
        context, dockerfile = ".", "Dockerfile"
        if isinstance(build, str):
            context = build
        elif isinstance(build, dict):
            context = str(build.get("context", "."))
            dockerfile = str(build.get("dockerfile", "Dockerfile"))
        else:
            continue
        if host_path_problem(context) or host_path_problem(dockerfile):
            continue  # refused on its own by check_compose_paths
        found[posixpath.normpath(posixpath.join(base, context, dockerfile))] = name
    return found


def check_compose_paths(path: str, doc: Mapping[str, Any], text: str) -> Iterator[Violation]:
    """Every host path a compose document would read from outside the job's folder."""
    for where, value in _host_paths(doc):
        problem = host_path_problem(value)
        if problem:
            yield Violation(
                "compose-host-path",
                path,
                _line_of(text, str(value)),
                f"{where} = {str(value)[:120]!r} {problem}; keep it relative, inside the "
                "job's folder",
            )
    for name, svc in _services(doc):
        build = svc.get("build")
        inline = build.get("dockerfile_inline") if isinstance(build, dict) else None
        if isinstance(inline, str):
            yield from check_dockerfile_text(
                f"{path} (services.{name}.build.dockerfile_inline)", inline
            )


def check_dockerfile_text(path: str, text: str) -> Iterator[Violation]:
    """The shared build rules, as bundle violations naming the file and line."""
    for refusal in check_dockerfile(text):
        yield Violation("dockerfile-unsafe", path, refusal.line, refusal.message)


def _services(doc: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    services = doc.get("services")
    if isinstance(services, dict):
        for name, svc in services.items():
            if isinstance(svc, dict):
                yield str(name), svc


def _host_paths(doc: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """(where, value) for every key through which compose reads a host path."""
    for name, svc in _services(doc):
        yield from _service_paths(f"services.{name}", svc)
    for section in ("secrets", "configs"):
        entries = doc.get(section)
        for key, spec in entries.items() if isinstance(entries, dict) else []:
            if isinstance(spec, dict) and "file" in spec:
                yield f"{section}.{key}.file", spec["file"]
    volumes = doc.get("volumes")
    for key, spec in volumes.items() if isinstance(volumes, dict) else []:
        opts = spec.get("driver_opts") if isinstance(spec, dict) else None
        if isinstance(opts, dict) and "device" in opts:
            yield f"volumes.{key}.driver_opts.device", opts["device"]
    includes = doc.get("include")
    for entry in includes if isinstance(includes, list) else []:
        paths = entry.get("path") if isinstance(entry, dict) else entry
        for value in paths if isinstance(paths, list) else [paths]:
            yield "include", value


def _service_paths(prefix: str, svc: dict[str, Any]) -> Iterator[tuple[str, object]]:
    build = svc.get("build")
    if isinstance(build, str):
        yield f"{prefix}.build", build
    elif isinstance(build, dict):
        yield f"{prefix}.build.context", build.get("context", ".")
        if "dockerfile" in build:
            yield f"{prefix}.build.dockerfile", build["dockerfile"]
        for key, extra in _mapping_or_pairs(build.get("additional_contexts")):
            yield f"{prefix}.build.additional_contexts.{key}", extra
    env_files = svc.get("env_file")
    for entry in env_files if isinstance(env_files, list) else [env_files]:
        value = entry.get("path") if isinstance(entry, dict) else entry
        if value is not None:
            yield f"{prefix}.env_file", value
    for volume in svc.get("volumes") or []:
        source = _bind_source(volume)
        if source is not None:
            yield f"{prefix}.volumes", source
    extends = svc.get("extends")
    if isinstance(extends, dict) and "file" in extends:
        yield f"{prefix}.extends.file", extends["file"]


def _mapping_or_pairs(value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, dict):
        yield from ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        for item in value:
            key, _, extra = str(item).partition("=")
            yield key, extra


def _bind_source(volume: object) -> object | None:
    """The host side of a bind mount, or None for a named volume or tmpfs."""
    if isinstance(volume, dict):
        if volume.get("type") == "bind":
            return volume.get("source")
        return None
    if not isinstance(volume, str) or ":" not in volume:
        return None
    source = volume.split(":", 1)[0]
    # A named volume is a bare name; anything path-like is a bind mount of the host.
    return source if re.search(r"[/\\~.$]", source) else None


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle and needle in line:
            return number
    return None
