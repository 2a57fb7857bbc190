"""The local Docker target: build a job's image, run it, inspect it, tear it all down.

Synchronous on purpose: the async provisioner runs these calls in a worker thread.
Everything created for a job carries the label ``autodeploy.job_id=<job id>``, so
``teardown`` finds it through the Docker API even after a process restart.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors

from services.provisioner.compose_project import ComposeService
from shared.images import (
    apply_base_image_overrides,
    dockerfile_base_images,
    override_dockerfile_images,
)

__all__ = [
    "JOB_LABEL",
    "SUPPORTED_SERVICES",
    "AppState",
    "BackingService",
    "DeployError",
    "DockerLocal",
    "RunningApp",
    "TeardownReport",
    "job_labels",
]

logger = logging.getLogger(__name__)

JOB_LABEL = "autodeploy.job_id"
_ERROR_TAIL_LINES = 25


class DeployError(RuntimeError):
    """Applying a job to the local Docker engine failed; the message says what and why."""


def job_labels(job_id: object) -> dict[str, str]:
    """The labels that tie Docker objects to one job."""
    return {JOB_LABEL: str(job_id)}


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
        },
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
    ) -> None:
        """Connect lazily; ``publish_address`` is the host address app ports bind to.

        By default ports bind to 127.0.0.1 on a local engine (a deploy on a laptop should
        not appear on the LAN) and to 0.0.0.0 on a remote engine (``DOCKER_HOST=tcp://…``
        or ``ssh://…``), whose loopback nobody else can reach; URLs then use that host.
        """
        self._client = client
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
        labels: dict[str, str],
        on_log: Callable[[str], None],
        buildargs: Mapping[str, str] | None = None,
        timeout_s: int = 1800,
        image_overrides: Mapping[str, str] | None = None,
    ) -> str:
        """Build ``context_dir`` into ``tag``, streaming output lines to ``on_log``; image id.

        ``image_overrides`` (BASE_IMAGE_OVERRIDES) rewrites the ``FROM`` lines of a
        Dockerfile the repository brought, so it builds from the local or mirrored images
        too; a base image still missing on the engine is named if the build fails.
        """
        if not (context_dir / dockerfile).is_file():
            raise DeployError(f"no {dockerfile} in build context {context_dir}")
        if image_overrides:
            dockerfile = _localised_dockerfile(context_dir, dockerfile, image_overrides, on_log)
        missing = self._missing_images(context_dir / dockerfile)
        tail: deque[str] = deque(maxlen=_ERROR_TAIL_LINES)
        image_id: str | None = None
        try:
            # The low-level API streams; images.build() only returns once the build ended.
            stream: Iterator[dict[str, Any]] = self.client.api.build(
                path=str(context_dir),
                dockerfile=dockerfile,
                tag=tag,
                labels=dict(labels),
                buildargs=dict(buildargs or {}),
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                timeout=timeout_s,
            )
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    message = str(chunk.get("error") or detail.get("message") or chunk).strip()
                    _emit(on_log, tail, message)
                    raise DeployError(_missing_note(missing) + _build_failure(tag, message, tail))
                text = chunk.get("stream") or chunk.get("status")
                if text:
                    for line in str(text).splitlines():
                        if line.strip():
                            _emit(on_log, tail, line.rstrip())
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
            if image_id is None:
                image_id = str(self.client.images.get(tag).id)
        except DeployError:
            raise
        except docker.errors.DockerException as exc:
            raise DeployError(_build_failure(tag, str(exc), tail)) from exc
        except OSError as exc:  # the context could not be read or sent
            raise DeployError(_build_failure(tag, f"{type(exc).__name__}: {exc}", tail)) from exc
        logger.info("built %s as %s", tag, image_id)
        return image_id

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
            net = self.client.networks.create(name, driver="bridge", labels=dict(labels))
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
                labels=dict(labels),
                network=network,
                networking_config=self._aliases(network, network_aliases),
                # Docker picks the host port, so parallel jobs never collide.
                ports={port_key: (self.publish_address, None)},
                init=True,
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
            svc.name: self._compose_image(root, svc, project, labels, on_log, overrides)
            for svc in services
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
        labels: dict[str, str],
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
                labels=labels,
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
                labels={**labels, "autodeploy.service": kind},
                network=network,
                networking_config=self._aliases(network, [alias]),
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


def _emit(on_log: Callable[[str], None], tail: deque[str], line: str) -> None:
    tail.append(line)
    on_log(line)


def _localised_dockerfile(
    context_dir: Path, dockerfile: str, overrides: Mapping[str, str], on_log: Callable[[str], None]
) -> str:
    """A copy of ``dockerfile`` with its base images mapped, beside it; its name."""
    text = (context_dir / dockerfile).read_text(errors="replace")
    mapped = override_dockerfile_images(text, overrides)
    if mapped == text:
        return dockerfile
    for before in dockerfile_base_images(text):
        after = apply_base_image_overrides(before, overrides)
        if before != after:
            on_log(f"base image {before} -> {after} (BASE_IMAGE_OVERRIDES)")
    name = f"{dockerfile}.autodeploy-images"
    (context_dir / name).write_text(mapped)
    return name


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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
