"""Laying generated files into a working directory, and the engine the settings name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shared.capabilities.docker_local import DockerLocal, Limits
from shared.settings import Settings
from shared.stage import PermanentError

__all__ = ["engine_limits", "local_engine", "write_tree"]


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write files under ``root``; a path that would land outside it fails the job."""
    base = root.resolve()
    for rel, content in files.items():
        target = (root / rel).resolve()
        if not target.is_relative_to(base):
            raise PermanentError(f"generated path {rel!r} escapes the workspace")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def local_engine(settings: Settings) -> DockerLocal:
    """The Docker engine apps are deployed on, publishing where and limited as configured."""
    return DockerLocal(
        publish_address=settings.docker_publish_address or None,
        url_host=settings.deploy_url_host or None,
        limits=engine_limits(settings),
    )


def engine_limits(settings: Settings) -> Limits:
    """The build and container limits the settings name."""
    return Limits(
        memory_mb=settings.container_memory_mb,
        cpus=settings.container_cpus,
        pids=settings.container_pids_limit,
        capabilities=settings.container_capability_list,
        build_memory_mb=settings.build_memory_mb,
        build_cpu_shares=settings.build_cpu_shares,
        build_timeout_s=settings.build_timeout_s,
    )
