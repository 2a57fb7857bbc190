"""The local Docker target: build a job's image, run it, inspect it, tear it all down.

Synchronous on purpose: the async provisioner runs these calls in a worker thread.
Everything created for a job carries the label ``autodeploy.job_id=<job id>`` (and
``autodeploy.created=<unix time>``), so ``teardown`` and the stale-job reaper find it
through the Docker API even after a process restart.

A job's code is untrusted: its Dockerfile is checked right before the build (no remote
``ADD``, whoever wrote it), the build runs with memory/CPU limits and a total time limit,
and its containers run with memory/CPU/pids limits, ``no-new-privileges`` and only the
capabilities an app server needs.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors

from shared.build_policy import check_dockerfile
from shared.capabilities.build_causes import BuildCauses
from shared.capabilities.compose_project import ComposeService
from shared.contracts.errors import DeployError
from shared.dockerfile_compat import UnsupportedInstruction, classic_builder_dockerfile
from shared.images import (
    apply_base_image_overrides,
    dockerfile_base_images,
    older_stand_in,
    override_dockerfile_images,
)

__all__ = [
    "CREATED_LABEL",
    "JOB_LABEL",
    "SUPPORTED_SERVICES",
    "AppState",
    "BackingService",
    "DockerLocal",
    "Limits",
    "RunningApp",
    "TeardownReport",
    "job_image_tags",
    "job_labels",
]

logger = logging.getLogger(__name__)

JOB_LABEL = "autodeploy.job_id"
CREATED_LABEL = "autodeploy.created"  # unix seconds; the reaper ages objects by it
_ERROR_TAIL_LINES = 25
# What an image that starts as root and drops to a service user (nginx, php-fpm and
# the like) needs; found by trying the local nginx image with fewer. Port 80 needs no
# NET_BIND_SERVICE: the engine lets unprivileged processes bind any port in a container.
DEFAULT_APP_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID")
_RUNNING_IN = "---> Running in "


@dataclass(frozen=True)
class Limits:
    """Resource limits for a job's builds and containers (see Settings for the defaults)."""

    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 256
    capabilities: tuple[str, ...] = DEFAULT_APP_CAPABILITIES
    build_memory_mb: int = 2048
    build_cpu_shares: int = 512
    build_timeout_s: float = 900.0

    def run_kwargs(self, capabilities: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The ``containers.run`` arguments that confine one container."""
        return {
            "mem_limit": f"{self.memory_mb}m",
            "memswap_limit": f"{self.memory_mb}m",  # no swap beyond the memory limit
            "nano_cpus": int(self.cpus * 1_000_000_000),
            "pids_limit": self.pids,
            "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"],
            "cap_add": list(self.capabilities if capabilities is None else capabilities),
        }

    def build_container_limits(self) -> dict[str, int]:
        """What the build API can limit for each build step's container."""
        memory = self.build_memory_mb * 1024 * 1024
        return {"memory": memory, "memswap": memory, "cpushares": self.build_cpu_shares}


def job_labels(job_id: object) -> dict[str, str]:
    """The labels that tie Docker objects to one job."""
    return {JOB_LABEL: str(job_id)}


def job_image_tags(client: docker.DockerClient, job_id: object) -> dict[str, list[str]]:
    """Image id -> the tags that tie it to the job: every tag naming the job's id.

    A job's images carry no label (on the classic builder a build label is one more step,
    a container of its own on every build, never cached); every tag the stages give an
    image names the job (``autodeploy/<job>:latest``, ``autodeploy/<job>-preview``,
    ``autodeploy/autodeploy-<job>-<service>``, a cloud registry's ``.../autodeploy-<job>``).
    Two revisions of an unchanged commit then share one image under two tags.
    """
    needle = str(job_id).lower()
    found: dict[str, list[str]] = {}
    for image in client.images.list():
        tags = [tag for tag in image.tags if needle in tag.lower()]
        if tags:
            found[str(image.id)] = tags
    return found


def _stamped(labels: Mapping[str, str]) -> dict[str, str]:
    """``labels`` plus the creation time, for an object about to be created."""
    return {**labels, CREATED_LABEL: str(int(time.time()))}


@dataclass(frozen=True)
class RunningApp:
    """A started application container and where a user reaches it."""

    container_id: str
    name: str
    image: str
    container_port: int
    host_port: int
    url: str
    network: str | None = None


@dataclass(frozen=True)
class AppState:
    """What Docker says about a container right now."""

    status: str  # created | running | restarting | exited | dead | missing
    exit_code: int | None = None
    error: str = ""

    @property
    def running(self) -> bool:
        """True while the container's process is alive."""
        return self.status == "running"


@dataclass
class TeardownReport:
    """What a teardown removed, and what it could not."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing labelled for the job was left behind."""
        return not self.errors

    @property
    def removed_anything(self) -> bool:
        """False on a repeated teardown: there was nothing left to remove."""
        return bool(self.containers or self.networks or self.images or self.volumes)


@dataclass(frozen=True)
class BackingService:
    """A started backing service and the environment an app uses to reach it."""

    kind: str
    container_id: str
    name: str
    alias: str
    env: dict[str, str] = field(repr=False)  # holds the generated password


@dataclass(frozen=True)
class _ServiceSpec:
    image: str  # official name; image_overrides maps it onto a local image
    ready_cmd: list[str]
    container_env: Callable[[str], dict[str, str]]
    app_env: Callable[[str, str], dict[str, str]]
    # Found by trying the local images: their entrypoints chown the data directory as
    # root, then switch to the service user.
    capabilities: tuple[str, ...] = DEFAULT_APP_CAPABILITIES


_SERVICES: dict[str, _ServiceSpec] = {
    "postgres": _ServiceSpec(
        image="postgres:16",
        ready_cmd=["pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "app"],
        container_env=lambda pw: {
            "POSTGRES_USER": "app",
            "POSTGRES_PASSWORD": pw,
            "POSTGRES_DB": "app",
        },
        app_env=lambda host, pw: {
            "DATABASE_URL": f"postgresql://app:{pw}@{host}:5432/app",
            "POSTGRES_HOST": host,
            "POSTGRES_PORT": "5432",
            "POSTGRES_USER": "app",
            "POSTGRES_PASSWORD": pw,
            "POSTGRES_DB": "app",
            # libpq's own variables: apps (and psql, psycopg's empty DSN) that read these
            # instead of DATABASE_URL would otherwise die of a KeyError.
            "PGHOST": host,
            "PGPORT": "5432",
            "PGUSER": "app",
            "PGPASSWORD": pw,
            "PGDATABASE": "app",
        },
        capabilities=(*DEFAULT_APP_CAPABILITIES, "FOWNER"),  # chmod of its data directory
    ),
    "redis": _ServiceSpec(
        image="redis:7",
        ready_cmd=["redis-cli", "ping"],
        container_env=lambda _pw: {},
        app_env=lambda host, _pw: {"REDIS_URL": f"redis://{host}:6379/0"},
    ),
}

# The backing services the local target can start next to an app.
SUPPORTED_SERVICES = frozenset(_SERVICES)


class DockerLocal:
    """Build and run a job's containers on the Docker engine that ``DOCKER_HOST`` names."""

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        publish_address: str | None = None,
        url_host: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        """Connect lazily; ``publish_address`` is the host address app ports bind to.

        By default ports bind to 127.0.0.1 on a local engine (a deploy on a laptop should
        not appear on the LAN) and to 0.0.0.0 on a remote engine (``DOCKER_HOST=tcp://…``
        or ``ssh://…``), whose loopback nobody else can reach; URLs then use that host.
        """
        self._client = client
        self.limits = limits or Limits()
        remote_host = _remote_engine_host(os.environ.get("DOCKER_HOST", ""))
        self.publish_address = publish_address or ("0.0.0.0" if remote_host else "127.0.0.1")
        default_url_host = remote_host or (
            "127.0.0.1" if self.publish_address in {"0.0.0.0", "::"} else self.publish_address
        )
        self.url_host = url_host or default_url_host

    @property
    def client(self) -> docker.DockerClient:
        """The Docker client, created on first use."""
        if self._client is None:
            try:
                self._client = docker.from_env()
            except docker.errors.DockerException as exc:
                where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
                raise DeployError(
                    f"no Docker engine answers at {where} ({exc}); start one with "
                    "scripts/ensure-docker.sh or point DOCKER_HOST at a running engine"
                ) from exc
        return self._client

    # --- images ---------------------------------------------------------------------

    def build(
        self,
        context_dir: Path,
        *,
        tag: str,
        dockerfile: str = "Dockerfile",
        on_log: Callable[[str], None],
        buildargs: Mapping[str, str] | None = None,
        image_overrides: Mapping[str, str] | None = None,
        image_runtimes: Mapping[str, str] | None = None,
        older_images: Mapping[str, tuple[str, str]] | None = None,
    ) -> str:
        """Build ``context_dir`` into ``tag``, streaming output lines to ``on_log``; image id.

        A build of the repository's Dockerfile that fails on a stand-in newer than the
        version its ``FROM`` names (python:3.12-slim on the local 3.13 image, where pinned
        packages have no wheels) is tried once more on the newest local image older than
        that version, when ``image_runtimes`` (what each local image runs) lists one; the
        log names both images and both versions. ``older_images`` (a FROM image -> the older
        image and what it runs) adds such moves for a Dockerfile that names local images
        itself: one the generator wrote on the newest Python because none was declared.
        """
        once = partial(
            self._build_once,
            context_dir,
            tag=tag,
            dockerfile=dockerfile,
            on_log=on_log,
            buildargs=buildargs,
        )
        older = {
            **_older_overrides(context_dir, dockerfile, image_overrides, image_runtimes),
            **(older_images or {}),
        }
        # On a newer Python than asked, pinned packages may have no wheel for it: pip would
        # compile them from source (numpy, pandas: a quarter of an hour, or past
        # BUILD_TIMEOUT_S) where the older image installs the wheels the pins were chosen
        # with. So the newer one is tried with wheels only; the older one next; the newer one
        # compiling whatever it must last.
        wheels_only = frozenset(before for before in older if _image_kind(before) == "python")
        undeclared = set(older_images or {})
        why = {
            before: "the newest, as no version is declared"
            if before in undeclared
            else f"newer than {before}"
            for before in older
        }
        for before in sorted(wheels_only):
            on_log(
                f"building on {apply_base_image_overrides(before, image_overrides or {})} "
                f"({why[before]}) with wheels only (PIP_ONLY_BINARY=:all:): a pinned package "
                "with no wheel for it moves the build to an older image instead of compiling"
            )
        try:
            return once(image_overrides=image_overrides, wheels_only=wheels_only)
        except DeployError as exc:
            first = str(exc)
            if not older or _NOT_RETRIED.search(first):
                raise
        mapped = dict(image_overrides or {})
        for before, (after, runs) in older.items():
            asked = (
                "" if before in undeclared else f", older than {before} asks: no exact image here"
            )
            on_log(
                f"the build failed on {apply_base_image_overrides(before, mapped)} "
                f"({why[before]}); retrying on {after} ({runs}{asked})"
            )
        retry = {**mapped, **{before: after for before, (after, _) in older.items()}}
        tried = ", ".join(after for after, _ in older.values())
        try:
            return once(image_overrides=retry)
        except DeployError as exc:
            second = str(exc)
            if not wheels_only or _NOT_RETRIED.search(second):
                raise DeployError(
                    f"{first}\nretried on {tried} (older than asked), which failed too: "
                    f"{second.splitlines()[0]}"
                ) from exc
        newer = ", ".join(apply_base_image_overrides(b, mapped) for b in sorted(wheels_only))
        on_log(
            f"the build failed on {tried} too; building on {newer} again, "
            "compiling what has no wheel"
        )
        try:
            return once(image_overrides=image_overrides)
        except DeployError as exc:
            raise DeployError(
                f"{first}\nretried on {tried} (older than asked), which failed too: "
                f"{second.splitlines()[0]}\nand on the newer image compiling from source: "
                f"{str(exc).splitlines()[0]}"
            ) from exc

    def _build_once(
        self,
        context_dir: Path,
        *,
        tag: str,
        dockerfile: str,
        on_log: Callable[[str], None],
        buildargs: Mapping[str, str] | None,
        image_overrides: Mapping[str, str] | None,
        wheels_only: frozenset[str] = frozenset(),
    ) -> str:
        """One build; see ``build``. Stages FROM an image in ``wheels_only`` install Python
        packages from wheels only (PIP_ONLY_BINARY, a build-time ARG: not in the image).

        The Dockerfile is checked first, whatever stage wrote it: the engine itself would
        fetch a remote ``ADD`` from the host's network. ``image_overrides``
        (BASE_IMAGE_OVERRIDES) rewrites the ``FROM`` lines of a Dockerfile the repository
        brought, so it builds from the local or mirrored images too, and
        ``shared.dockerfile_compat`` rewrites what the classic builder or a Debian image
        standing in for an Alpine one would refuse (each rewrite logged); a base image still
        missing on the engine is named if the build fails. The build gets the memory and
        CPU limits and at most ``limits.build_timeout_s`` seconds in all.
        """
        dockerfile_path = _checked_dockerfile(context_dir, dockerfile)
        # Always localised: the classic-builder rewrites apply without overrides too.
        localised, substituted = _localised_dockerfile(
            context_dir, dockerfile, image_overrides or {}, on_log, wheels_only
        )
        if localised != dockerfile:
            dockerfile = localised
            dockerfile_path = _checked_dockerfile(context_dir, dockerfile)
        missing = self._missing_images(dockerfile_path)
        tail: deque[str] = deque(maxlen=_ERROR_TAIL_LINES)
        timeout_s = self.limits.build_timeout_s
        watchdog = _BuildWatchdog(self.client, timeout_s)
        causes = BuildCauses()
        image_id: str | None = None
        try:
            # The low-level API streams; images.build() only returns once the build ended.
            stream: Iterator[dict[str, Any]] = self.client.api.build(
                path=str(context_dir),
                dockerfile=str(dockerfile_path.relative_to(context_dir.resolve())),
                tag=tag,
                # No label: the tag names the job (job_image_tags). On the classic builder
                # a label is a final step that runs a container on every build.
                buildargs=dict(buildargs or {}),
                container_limits=self.limits.build_container_limits(),
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                # A step that prints nothing is stopped by the watchdog; this only bounds
                # a read the watchdog cannot end (the context upload, say).
                timeout=int(timeout_s) + 60,
            )
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    message = str(chunk.get("error") or detail.get("message") or chunk).strip()
                    _emit(on_log, tail, message)
                    raise DeployError(
                        # What the build could not reach leads: it is the cause, where a
                        # stand-in image only may be.
                        (f"{causes.first}. " if causes.first else "")
                        + _missing_note(missing)
                        + _substituted_note(substituted)
                        + _build_failure(tag, message, tail)
                    )
                text = chunk.get("stream") or chunk.get("status")
                if text:
                    for line in str(text).splitlines():
                        if line.strip():
                            _emit(on_log, tail, line.rstrip())
                            watchdog.saw(line)
                            causes.saw(line)
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
                if watchdog.expired:
                    break
            if watchdog.expired:
                raise DeployError(
                    _substituted_note(substituted) + _build_failure(tag, watchdog.message, tail)
                )
            if image_id is None:
                image_id = str(self.client.images.get(tag).id)
        except DeployError as exc:
            if watchdog.expired and watchdog.message not in str(exc):
                raise DeployError(
                    _substituted_note(substituted) + _build_failure(tag, watchdog.message, tail)
                ) from exc
            raise
        except docker.errors.DockerException as exc:
            message = watchdog.message if watchdog.expired else str(exc)
            raise DeployError(_build_failure(tag, message, tail)) from exc
        except OSError as exc:  # the context could not be read or sent, or the read timed out
            message = watchdog.message if watchdog.expired else f"{type(exc).__name__}: {exc}"
            raise DeployError(_build_failure(tag, message, tail)) from exc
        finally:
            watchdog.stop()
        logger.info("built %s as %s", tag, image_id)
        return image_id

    def absent_images(self, images: list[str]) -> list[str]:
        """Which of ``images`` the engine does not hold (a run would have to pull them)."""
        absent = []
        for image in images:
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                absent.append(image)
            except docker.errors.DockerException as exc:
                raise DeployError(f"could not inspect image {image}: {exc}") from exc
        return absent

    def _missing_images(self, dockerfile: Path) -> list[str]:
        """Base images of ``dockerfile`` that the engine does not hold (it would pull them)."""
        missing = []
        for image in dockerfile_base_images(dockerfile.read_text(errors="replace")):
            if image.lower() == "scratch":
                continue
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                missing.append(image)
            except docker.errors.DockerException:
                continue  # the build itself reports an engine that does not answer
        return missing

    # --- containers -----------------------------------------------------------------

    def ensure_network(self, name: str, *, labels: dict[str, str]) -> str:
        """Create the job's bridge network unless it exists; its id."""
        try:
            found = self.client.networks.list(names=[name])
            for net in found:
                if net.name == name:
                    return str(net.id)
            net = self.client.networks.create(name, driver="bridge", labels=_stamped(labels))
            return str(net.id)
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not create Docker network {name}: {exc}") from exc

    def run(
        self,
        image: str,
        *,
        name: str,
        container_port: int,
        env: dict[str, str],
        labels: dict[str, str],
        network: str | None = None,
        network_aliases: list[str] | None = None,
        command: str | list[str] | None = None,
        startup_grace_s: float = 1.0,
    ) -> RunningApp:
        """Start ``image`` detached and publish ``container_port`` on a free host port.

        Waits ``startup_grace_s`` so that an app which dies at once (missing setting, bad
        start command) fails here with its logs instead of as a later health-check timeout.
        """
        self._remove_stale(name, labels)
        port_key = f"{container_port}/tcp"
        try:
            if network:
                self.ensure_network(network, labels=labels)
            container = self.client.containers.run(
                image,
                command=command,
                name=name,
                detach=True,
                environment=dict(env),
                labels=_stamped(labels),
                network=network,
                networking_config=self._aliases(network, network_aliases),
                # Docker picks the host port, so parallel jobs never collide.
                ports={port_key: (self.publish_address, None)},
                init=True,
                **self.limits.run_kwargs(),
            )
            container.reload()
            deadline = time.monotonic() + startup_grace_s
            while container.status == "running" and time.monotonic() < deadline:
                time.sleep(0.2)
                container.reload()
        except docker.errors.ImageNotFound as exc:
            raise DeployError(
                f"image {image} is not on the Docker engine and cannot be pulled here; "
                "build it first (base images: scripts/build-base-images.sh)"
            ) from exc
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not start container {name} from {image}: {exc}") from exc

        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(port_key)
        if container.status != "running" or not bindings:
            state = self.state(container.id)
            raise DeployError(
                f"container {name} ({image}) {state.status} right after start "
                f"(exit code {state.exit_code}); last log lines:\n"
                + self.logs(container.id, tail=_ERROR_TAIL_LINES)
            )
        host_port = int(bindings[0]["HostPort"])
        url = f"http://{_url_host(self.url_host)}:{host_port}"
        logger.info("started %s (%s) at %s", name, container.short_id, url)
        return RunningApp(
            container_id=str(container.id),
            name=name,
            image=image,
            container_port=container_port,
            host_port=host_port,
            url=url,
            network=network,
        )

    def run_compose_project(
        self,
        root: Path,
        services: list[ComposeService],
        *,
        front: ComposeService,
        project: str,
        labels: dict[str, str],
        on_log: Callable[[str], None],
        image_overrides: Mapping[str, str] | None = None,
    ) -> RunningApp:
        """Build and start every service of a repository's compose project; the front's URL.

        Services share one job network and reach each other by service name, as under
        docker compose. Built services get the base-image mapping; an ``image:`` service
        must be on the engine (after the mapping), since nothing is pulled.
        """
        overrides = image_overrides or {}
        images = {
            svc.name: self._compose_image(root, svc, project, on_log, overrides) for svc in services
        }
        self.ensure_network(project, labels=labels)
        app: RunningApp | None = None
        for svc in services:
            name = f"{project}-{svc.name}".lower()
            on_log(f"starting compose service {svc.name} from {images[svc.name]}")
            if svc is front:
                app = self.run(
                    images[svc.name],
                    name=name,
                    container_port=front.container_ports[0],
                    env=svc.environment,
                    labels=labels,
                    network=project,
                    network_aliases=[svc.name],
                    command=svc.command,
                    startup_grace_s=0,
                )
                continue
            self._remove_stale(name, labels)
            volumes = {}
            for volume, path in svc.volumes.items():
                full = f"{project}-{volume}".lower()
                self.client.volumes.create(full, labels=dict(labels))
                volumes[full] = {"bind": path, "mode": "rw"}
            try:
                self.client.containers.run(
                    images[svc.name],
                    command=svc.command,
                    name=name,
                    detach=True,
                    environment=dict(svc.environment),
                    labels=dict(labels),
                    network=project,
                    networking_config=self._aliases(project, [svc.name]),
                    volumes=volumes,
                    init=True,
                )
            except docker.errors.DockerException as exc:
                raise DeployError(f"could not start compose service {svc.name}: {exc}") from exc
        assert app is not None
        return app

    def _compose_image(
        self,
        root: Path,
        svc: ComposeService,
        project: str,
        on_log: Callable[[str], None],
        overrides: Mapping[str, str],
    ) -> str:
        if svc.build_context is not None:
            tag = f"autodeploy/{project}-{svc.name}:latest".lower()
            on_log(f"building compose service {svc.name} ({svc.build_context}/{svc.dockerfile})")
            self.build(
                root / svc.build_context,
                tag=tag,
                dockerfile=svc.dockerfile,
                on_log=on_log,
                image_overrides=overrides,
            )
            return tag
        assert svc.image is not None
        mapped = apply_base_image_overrides(svc.image, overrides)
        try:
            self.client.images.get(mapped)
        except docker.errors.ImageNotFound:
            via = f" (mapped to {mapped})" if mapped != svc.image else ""
            raise DeployError(
                f"compose service {svc.name} needs image {svc.image}{via}, which is not on "
                "this Docker engine, and nothing is pulled here; map it in "
                "BASE_IMAGE_OVERRIDES to a local image (make images builds postgres and "
                "redis ones) or build it first"
            ) from None
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not inspect image {mapped}: {exc}") from exc
        return mapped

    def start_service(
        self,
        kind: str,
        *,
        labels: dict[str, str],
        network: str,
        image_overrides: Mapping[str, str] | None = None,
        alias: str | None = None,
        ready_timeout_s: float = 60.0,
    ) -> BackingService:
        """Start a backing service (postgres, redis) on the job's network and wait until ready.

        The service is reachable from the job's containers as ``alias`` (default: the kind);
        ``BackingService.env`` holds what the app needs to reach it (DATABASE_URL, REDIS_URL).
        """
        spec = _SERVICES.get(kind)
        if spec is None:
            raise DeployError(
                f"unknown backing service {kind!r}; supported: {', '.join(sorted(_SERVICES))}"
            )
        alias = alias or kind
        image = (image_overrides or {}).get(spec.image, spec.image)
        password = secrets.token_hex(16)
        name = f"{network}-{alias}"
        self._remove_stale(name, labels)
        try:
            self.ensure_network(network, labels=labels)
            container = self.client.containers.run(
                image,
                name=name,
                detach=True,
                environment=spec.container_env(password),
                labels=_stamped({**labels, "autodeploy.service": kind}),
                network=network,
                networking_config=self._aliases(network, [alias]),
                **self.limits.run_kwargs(spec.capabilities),
            )
        except docker.errors.ImageNotFound as exc:
            raise DeployError(
                f"image {image} for the {kind} service is not on the Docker engine; build "
                "it (scripts/build-base-images.sh) or map it with a base-image override"
            ) from exc
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not start {kind} service from {image}: {exc}") from exc

        deadline = time.monotonic() + ready_timeout_s
        while True:
            container.reload()
            if container.status != "running":
                raise DeployError(
                    f"{kind} service {name} {container.status} while starting; last log lines:\n"
                    + self.logs(str(container.id), tail=_ERROR_TAIL_LINES)
                )
            exit_code, _ = container.exec_run(spec.ready_cmd)
            if exit_code == 0:
                break
            if time.monotonic() >= deadline:
                raise DeployError(
                    f"{kind} service {name} not ready after {ready_timeout_s:.0f}s; last log "
                    "lines:\n" + self.logs(str(container.id), tail=_ERROR_TAIL_LINES)
                )
            time.sleep(0.5)
        logger.info("%s service %s ready as %s", kind, name, alias)
        return BackingService(
            kind=kind,
            container_id=str(container.id),
            name=name,
            alias=alias,
            env=spec.app_env(alias, password),
        )

    def logs(self, container_id: str, tail: int = 50) -> str:
        """The last ``tail`` lines the container wrote to stdout and stderr."""
        try:
            raw = self.client.containers.get(container_id).logs(stdout=True, stderr=True, tail=tail)
        except docker.errors.NotFound as exc:
            raise DeployError(f"container {container_id} no longer exists") from exc
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not read logs of container {container_id}: {exc}") from exc
        return bytes(raw).decode("utf-8", errors="replace")

    def state(self, container_id: str) -> AppState:
        """Whether the container runs, or how it ended; ``missing`` once it is gone."""
        try:
            container = self.client.containers.get(container_id)
        except docker.errors.NotFound:
            return AppState(status="missing")
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not inspect container {container_id}: {exc}") from exc
        raw = container.attrs.get("State", {})
        status = str(raw.get("Status", "unknown"))
        exit_code = None if status in {"running", "created"} else raw.get("ExitCode")
        return AppState(status=status, exit_code=exit_code, error=str(raw.get("Error") or ""))

    # --- teardown -------------------------------------------------------------------

    def teardown(self, labels: dict[str, str]) -> TeardownReport:
        """Remove every container, network, volume and image carrying ``labels``."""
        if not labels:
            # An empty filter would match every object on the engine.
            raise ValueError("teardown needs the job's labels, e.g. job_labels(job_id)")
        selector = {"label": [f"{key}={value}" for key, value in labels.items()]}
        report = TeardownReport()
        client = self.client

        def attempt(kind: str, ident: str, remove: Callable[[], object]) -> bool:
            try:
                remove()
            except docker.errors.NotFound:
                return False  # removed meanwhile: that is what we wanted
            except docker.errors.DockerException as exc:
                report.errors.append(f"{kind} {ident}: {exc}")
                return False
            return True

        try:
            containers = client.containers.list(all=True, filters=selector)
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not list containers for teardown: {exc}") from exc
        for c in containers:
            if attempt("container", c.name, partial(c.remove, force=True, v=True)):
                report.containers.append(str(c.name))

        for net in client.networks.list(filters=selector):
            if attempt("network", net.name, net.remove):
                report.networks.append(str(net.name))

        for vol in client.volumes.list(filters=selector):
            if attempt("volume", vol.name, partial(vol.remove, force=True)):
                report.volumes.append(str(vol.name))

        # Untagged, not forced: an image another revision also tags (an unchanged commit
        # builds the same image) stays for that one; the last tag's removal deletes it.
        if JOB_LABEL in labels:
            for tags in job_image_tags(client, labels[JOB_LABEL]).values():
                for tag in tags:
                    if attempt("image", tag, partial(client.images.remove, tag)):
                        report.images.append(tag)
        # Images built before builds stopped labelling them.
        for img in client.images.list(filters=selector):
            name = img.tags[0] if img.tags else img.short_id
            if attempt("image", name, partial(client.images.remove, img.id, force=True)):
                report.images.append(str(name))

        logger.info(
            "teardown %s: %d containers, %d networks, %d volumes, %d images, %d errors",
            selector["label"],
            len(report.containers),
            len(report.networks),
            len(report.volumes),
            len(report.images),
            len(report.errors),
        )
        return report

    def job_ages(self, selector: Mapping[str, str] | None = None) -> dict[str, float]:
        """Job id -> creation time (unix s) of its oldest container, network or volume.

        ``selector`` narrows the search to objects that also carry those labels. Objects
        made before the creation label existed are aged by the engine's own timestamp.
        """
        filters = {"label": [JOB_LABEL, *(f"{k}={v}" for k, v in (selector or {}).items())]}
        found: dict[str, float] = {}
        try:
            objects: list[tuple[dict[str, str], str]] = [
                (c.labels or {}, str(c.attrs.get("Created", "")))
                for c in self.client.containers.list(all=True, filters=filters)
            ]
            objects += [
                (n.attrs.get("Labels") or {}, str(n.attrs.get("Created", "")))
                for n in self.client.networks.list(filters=filters)
            ]
            objects += [
                (v.attrs.get("Labels") or {}, str(v.attrs.get("CreatedAt", "")))
                for v in self.client.volumes.list(filters=filters)
            ]
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not list the engine's job objects: {exc}") from exc
        for labels, engine_created in objects:
            job = labels.get(JOB_LABEL)
            if not job:
                continue
            created = _created_at(labels.get(CREATED_LABEL), engine_created)
            found[job] = min(found.get(job, created), created)
        return found

    def _aliases(self, network: str | None, aliases: list[str] | None) -> dict[str, Any] | None:
        if not network or not aliases:
            return None
        return {network: self.client.api.create_endpoint_config(aliases=aliases)}

    def _remove_stale(self, name: str, labels: dict[str, str]) -> None:
        """Free ``name`` if a previous attempt of the same job left a container behind."""
        try:
            old = self.client.containers.get(name)
        except docker.errors.NotFound:
            return
        except docker.errors.DockerException as exc:
            raise DeployError(f"could not inspect container {name}: {exc}") from exc
        old_labels = old.labels or {}
        if any(old_labels.get(k) != v for k, v in labels.items()):
            raise DeployError(
                f"a container named {name} exists and belongs to something else "
                f"(labels {old_labels}); pick another name or remove it"
            )
        old.remove(force=True)


def _checked_dockerfile(context_dir: Path, dockerfile: str) -> Path:
    """The Dockerfile to build, once it is inside the context and passes the build rules."""
    root = context_dir.resolve()
    path = (context_dir / dockerfile).resolve()
    if not path.is_relative_to(root):
        raise DeployError(
            f"the Dockerfile {dockerfile} resolves outside the build context {context_dir}; "
            "it must be a file of the job's folder"
        )
    if not path.is_file():
        raise DeployError(f"no {dockerfile} in build context {context_dir}")
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise DeployError(f"could not read {dockerfile}: {exc}") from exc
    refusals = check_dockerfile(text)
    if refusals:
        raise DeployError(
            "refusing to build: "
            + "; ".join(f"{dockerfile}:{r.line}: {r.message}" for r in refusals[:5])
        )
    return path


class _BuildWatchdog:
    """Ends a build that runs past its time limit, by killing the step it is running.

    The build API has no time limit, and a step that prints nothing blocks the stream
    read; killing the step's container ("---> Running in <id>") makes the engine end
    the build with an error at once, and forcerm removes the container.
    """

    def __init__(self, client: docker.DockerClient, timeout_s: float) -> None:
        self._client = client
        self._step: str | None = None
        self._lock = threading.Lock()
        self.expired = False
        self.message = f"build took longer than {timeout_s:g} s (BUILD_TIMEOUT_S)"
        self._timer = threading.Timer(timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def saw(self, line: str) -> None:
        """Note the container of the step the build is running now."""
        if _RUNNING_IN in line:
            with self._lock:
                self._step = line.split(_RUNNING_IN, 1)[1].strip().split()[0]

    def stop(self) -> None:
        """The build ended: no kill any more."""
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            step = self._step
        logger.warning("%s; stopping step container %s", self.message, step)
        if step is None:
            return
        try:
            self._client.api.kill(step)
        except docker.errors.DockerException as exc:  # it may have ended meanwhile
            logger.info("could not kill build step %s: %s", step, exc)


def _emit(on_log: Callable[[str], None], tail: deque[str], line: str) -> None:
    tail.append(line)
    on_log(line)


def _localised_dockerfile(
    context_dir: Path,
    dockerfile: str,
    overrides: Mapping[str, str],
    on_log: Callable[[str], None],
    wheels_only: frozenset[str] = frozenset(),
) -> tuple[str, list[tuple[str, str]]]:
    """A copy of ``dockerfile`` with its base images mapped, beside it; its name, the pairs."""
    text = (context_dir / dockerfile).read_text(errors="replace")
    try:
        compatible, changes = classic_builder_dockerfile(text, overrides)
        if wheels_only:
            compatible = _with_wheels_only(compatible, wheels_only)
    except UnsupportedInstruction as exc:
        raise DeployError(
            f"{dockerfile} cannot be built here: this engine builds with the classic builder "
            f"(no BuildKit through its API), and {exc}"
        ) from exc
    for change in changes:
        on_log(f"Dockerfile rewritten for this engine: {change}")
    mapped = override_dockerfile_images(compatible, overrides)
    if mapped == text:
        return dockerfile, []
    pairs: list[tuple[str, str]] = []
    for before in dockerfile_base_images(text):
        after = apply_base_image_overrides(before, overrides)
        if before != after and (before, after) not in pairs:
            pairs.append((before, after))
            on_log(f"base image {before} -> {after} (BASE_IMAGE_OVERRIDES)")
    name = f"{dockerfile}.autodeploy-images"
    (context_dir / name).write_text(mapped)
    return name, pairs


_FROM_LINE = re.compile(
    r"^(?P<line>\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)[^\n]*)$", re.I | re.M
)


def _with_wheels_only(text: str, images: frozenset[str]) -> str:
    """``text`` with ``ARG PIP_ONLY_BINARY=:all:`` opening each stage built FROM ``images``.

    An ARG, not an ENV: pip reads it in the stage's RUN steps, and the image keeps nothing.
    """

    def add(m: re.Match[str]) -> str:
        if m.group("image") not in images:
            return m.group("line")
        return m.group("line") + "\nARG PIP_ONLY_BINARY=:all:"

    return _FROM_LINE.sub(add, text)


def _image_kind(image: str) -> str:
    """``python`` for ``python:3.12-slim`` or ``docker.io/library/python``: the repository's
    last path part."""
    return image.split("@", 1)[0].rsplit(":", 1)[0].rpartition("/")[2]


# A build that ran out of time or lacks a base image would fail the same way again.
_NOT_RETRIED = re.compile(r"BUILD_TIMEOUT_S|is not on this Docker engine|the classic builder")


def _older_overrides(
    context_dir: Path,
    dockerfile: str,
    overrides: Mapping[str, str] | None,
    runtimes: Mapping[str, str] | None,
) -> dict[str, tuple[str, str]]:
    """Base image -> (older local image, what it runs), for the FROMs a retry may move."""
    if not overrides or not runtimes:
        return {}
    try:
        text = (context_dir / dockerfile).read_text(errors="replace")
    except OSError:
        return {}
    older: dict[str, tuple[str, str]] = {}
    for image in dockerfile_base_images(text):
        found = older_stand_in(image, overrides, runtimes)
        if found:
            older[image] = found
    return older


def _substituted_note(pairs: list[tuple[str, str]]) -> str:
    # A stand-in may run another version or release than the one named (python:3.12-slim
    # on 3.13 where no 3.12 image exists, a -buster tag on bookworm): a failing step is often
    # that difference (no wheel for the newer Python, a package renamed since), so say so.
    if not pairs:
        return ""
    swaps = ", ".join(f"{after} in place of {before}" for before, after in pairs)
    return f"built on {swaps} (BASE_IMAGE_OVERRIDES): "


def _missing_note(missing: list[str]) -> str:
    if not missing:
        return ""
    return (
        f"base image {', '.join(missing)} is not on this Docker engine and could not be "
        "pulled; map it in BASE_IMAGE_OVERRIDES to a local image (make images builds "
        "python, node, nginx, postgres and redis ones) or make the registry reachable. "
    )


def _build_failure(tag: str, message: str, tail: deque[str]) -> str:
    lines = "\n".join(tail) or "(no build output)"
    return f"docker build of {tag} failed: {message}\nlast build output:\n{lines}"


def _remote_engine_host(docker_host: str) -> str | None:
    parts = urlsplit(docker_host)
    if parts.scheme in {"tcp", "ssh", "http", "https"} and parts.hostname:
        if parts.hostname in {"localhost", "127.0.0.1", "::1"}:
            return None
        return parts.hostname
    return None


def _created_at(label: str | None, engine_created: str) -> float:
    """Unix time from our label, else from the engine's RFC 3339 stamp; now if neither."""
    if label and label.isdigit():
        return float(label)
    text = engine_created.strip()
    if text:
        # The engine writes nanoseconds and Z; fromisoformat takes microseconds and +00:00.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    return time.time()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
