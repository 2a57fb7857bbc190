"""A repository's own compose file, read as the project it describes (pure: no Docker calls).

A repository whose compose file runs several services (a front, a results page, a worker,
Redis, Postgres) deploys as that project; this module turns the file into start order,
build/image, environment, command and published ports per service, and picks the front
service whose URL the job reports.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.composefile import active_services, load_compose
from shared.safeyaml import DocumentRefused, load_untrusted_yaml

__all__ = [
    "ComposeError",
    "ComposeService",
    "front_service",
    "load_compose_project",
    "parse_compose",
    "parse_env_file",
    "resolve_env_files",
    "without_unavailable",
]

# A service named like the user-facing one wins; then the port a web front publishes on.
_FRONT_NAMES = ("web", "front", "frontend", "app", "ui", "www", "site", "nginx", "proxy")
_FRONT_PORTS = (80, 8080, 3000, 8000, 5000, 443)
# Where a repository keeps the committed template of an env file it tells users to create.
_SAMPLE_SUFFIXES = ("-sample", ".sample", ".example", "-example", ".dist", ".template")
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR:+other}, $VAR; $$ is a $.
_VAR_RE = re.compile(
    r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


class ComposeError(ValueError):
    """The compose file cannot be deployed as written; the message says which part."""


@dataclass
class ComposeService:
    """One service of the project, normalised."""

    name: str
    image: str | None = None
    build_context: str | None = None  # relative to the repository root
    dockerfile: str = "Dockerfile"
    environment: dict[str, str] = field(default_factory=dict)
    command: str | list[str] | None = None
    container_ports: list[int] = field(default_factory=list)  # the ones it publishes
    published: dict[int, int] = field(default_factory=dict)  # container -> host, as written
    depends_on: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)  # named volume -> mount path
    env_files: list[str] = field(default_factory=list)  # relative to the repository root


def _interpolate(value: str, variables: Mapping[str, str] | None = None) -> str:
    """Compose's interpolation from ``variables`` (the project's .env), never the host's env.

    ${VAR:-default} -> default when VAR is unset or empty; ${VAR} and $VAR -> empty when
    unset; ${VAR:?message} raises ComposeError naming VAR when it is unset or empty.
    """
    known = variables or {}

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = known.get(name)
        is_set = current is not None and (current != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return current if is_set and current is not None else arg
        if op in (":?", "?"):
            if not is_set or current is None:
                raise ComposeError(
                    f"variable {name} is required ({arg or 'no message'}) and the repository's "
                    ".env does not set it; add it to the project's .env"
                )
            return current
        if op in (":+", "+"):
            return arg if is_set else ""
        return current or ""

    return _VAR_RE.sub(one, value)


def _environment(raw: Any, variables: Mapping[str, str]) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): _interpolate(str(v), variables) for k, v in raw.items() if v is not None}
    env: dict[str, str] = {}
    for item in raw or []:
        key, sep, value = str(item).partition("=")
        if sep:
            env[key] = _interpolate(value, variables)
    return env


def _ports(raw: Any, variables: Mapping[str, str]) -> dict[int, int]:
    """container port -> host port as written (0 when the file leaves the host side open)."""
    out: dict[int, int] = {}
    for spec in raw or []:
        if isinstance(spec, dict):
            target, published = spec.get("target"), spec.get("published") or 0
        else:
            text = _interpolate(str(spec), variables).split("/")[0]
            parts = text.split(":")
            target, published = parts[-1], parts[-2] if len(parts) > 1 else 0
        try:
            out[int(str(target).split("-")[0])] = int(str(published).split("-")[0] or 0)
        except ValueError:
            continue
    return out


def _depends(raw: Any) -> list[str]:
    if isinstance(raw, dict):
        return [str(k) for k in raw]
    return [str(k) for k in raw or []]


def _volumes(raw: Any, named: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in raw or []:
        if isinstance(spec, dict):
            source, target = str(spec.get("source", "")), str(spec.get("target", ""))
        else:
            source, _, rest = str(spec).partition(":")
            target = rest.split(":")[0]
        if source in named and target:
            out[source] = target
    return out


def _service(
    name: str,
    raw: dict[str, Any],
    compose_dir: str,
    named: set[str],
    variables: Mapping[str, str],
) -> ComposeService:
    svc = ComposeService(name=name)
    build = raw.get("build")
    if build is not None:
        context = build if isinstance(build, str) else str(build.get("context", "."))
        svc.build_context = posixpath.normpath(posixpath.join(compose_dir, context))
        if isinstance(build, dict) and build.get("dockerfile"):
            svc.dockerfile = str(build["dockerfile"])
    elif raw.get("image"):
        svc.image = _interpolate(str(raw["image"]), variables)
    else:
        raise ComposeError(f"service {name!r} has neither build nor image")
    svc.environment = _environment(raw.get("environment"), variables)
    files = raw.get("env_file")
    for item in [files] if isinstance(files, str | dict) else files or []:
        path = item.get("path") if isinstance(item, dict) else item
        if path:
            svc.env_files.append(posixpath.normpath(posixpath.join(compose_dir, str(path))))
    command = raw.get("command")
    if isinstance(command, list):
        svc.command = [str(part) for part in command]
    elif command is not None:
        svc.command = str(command)
    svc.published = _ports(raw.get("ports"), variables)
    svc.container_ports = list(svc.published)
    svc.depends_on = _depends(raw.get("depends_on"))
    svc.volumes = _volumes(raw.get("volumes"), named)
    return svc


def parse_compose(
    text: str, compose_path: str, variables: Mapping[str, str] | None = None
) -> list[ComposeService]:
    """The services of one compose file, in an order where dependencies start first.

    ``variables`` are what ``${VAR}`` interpolates from: the project's ``.env``.
    """
    try:
        data = load_untrusted_yaml(text, source=compose_path)
    except (yaml.YAMLError, DocumentRefused) as exc:
        raise ComposeError(f"{compose_path} is not valid YAML: {exc}") from exc
    return _project(data if isinstance(data, dict) else {}, compose_path, variables or {})


def load_compose_project(workdir: Path, compose_path: str) -> list[ComposeService]:
    """The project `docker compose up` would start in `workdir`: the file and its override.

    As docker compose does, ``${VAR}`` in the file is read from the ``.env`` beside it
    (the project directory's) when the repository commits one; the host's environment
    never leaks in.
    """

    def read(rel: str) -> str | None:
        path = workdir / rel
        return path.read_text() if path.is_file() else None

    try:
        doc = load_compose(read, compose_path)
    except (yaml.YAMLError, DocumentRefused) as exc:
        raise ComposeError(str(exc)) from exc
    if doc is None:
        raise ComposeError(f"{compose_path} is missing")
    dotenv = read(posixpath.join(posixpath.dirname(compose_path), ".env"))
    return _project(doc.data, compose_path, parse_env_file(dotenv) if dotenv else {})


def _project(
    data: Mapping[str, Any], compose_path: str, variables: Mapping[str, str]
) -> list[ComposeService]:
    # Services behind a profile do not start with `docker compose up`.
    raw_services = active_services(data)
    if not raw_services:
        raise ComposeError(f"{compose_path} has no services")
    volumes = data.get("volumes")
    named = {str(v) for v in volumes} if isinstance(volumes, Mapping) else set()
    compose_dir = posixpath.dirname(compose_path)
    services = {
        name: _service(name, raw, compose_dir, named, variables)
        for name, raw in raw_services.items()
    }
    ordered: list[ComposeService] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in visiting or any(s.name == name for s in ordered):
            return
        visiting.add(name)
        for dep in services[name].depends_on:
            if dep in services:
                visit(dep)
        ordered.append(services[name])

    for name in services:
        visit(name)
    return ordered


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=value`` lines of a dotenv file (comments, blanks and ``export`` allowed)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", key):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def resolve_env_files(
    services: list[ComposeService], read: Callable[[str], str | None]
) -> list[str]:
    """Fill each service's environment from its ``env_file``s; the log lines to show.

    Repositories rarely commit the env file itself (it holds secrets) but often commit its
    template beside it (``.env.dev-sample``, ``.env.example``), which is what the README
    tells a user to copy; that template is used, and the log says so. ``environment:``
    entries win over the file, as in compose. ``read`` returns a file's text or None.
    """
    notes: list[str] = []
    for svc in services:
        values: dict[str, str] = {}
        for path in svc.env_files:
            text = read(path)
            if text is None:
                sample = next(
                    (path + s for s in _SAMPLE_SUFFIXES if read(path + s) is not None), None
                )
                if sample is None:
                    notes.append(
                        f"service {svc.name}: env_file {path} is not in the repository and "
                        "has no committed sample; the service starts without it"
                    )
                    continue
                notes.append(
                    f"service {svc.name}: env_file {path} is not in the repository; "
                    f"using its committed sample {sample}"
                )
                text = read(sample) or ""
            values.update(parse_env_file(text))
        svc.environment = {**values, **svc.environment}
    return notes


def front_service(services: list[ComposeService]) -> ComposeService:
    """The service whose URL the job reports: it publishes a port and looks user-facing.

    A front-like name (web, front, app…) first, then the port a web front publishes on
    (80, 8080, 3000…), then the first service publishing anything.
    """
    publishing = [s for s in services if s.container_ports]
    if not publishing:
        raise ComposeError("no service publishes a port, so nothing answers HTTP from outside")

    def rank(svc: ComposeService) -> tuple[int, int, int]:
        name = _FRONT_NAMES.index(svc.name) if svc.name in _FRONT_NAMES else len(_FRONT_NAMES)
        host_ports = [svc.published[p] or p for p in svc.container_ports]
        port = min(
            (_FRONT_PORTS.index(p) for p in host_ports if p in _FRONT_PORTS),
            default=len(_FRONT_PORTS),
        )
        return (name, port, publishing.index(svc))

    return min(publishing, key=rank)


def without_unavailable(
    services: list[ComposeService], missing: Mapping[str, str]
) -> tuple[list[ComposeService], list[str]]:
    """Leave out the services whose image is not here when nothing kept depends on them.

    ``missing`` maps a service's name to the image it needs and this engine lacks. A
    service nothing depends on (a reverse proxy, a database admin page) is left out, and
    the front is then chosen among the rest; the notes say which and why. A missing image
    that a kept service depends on fails with ComposeError naming the image and the
    dependants: the project cannot run without it.
    """
    dropped = {svc.name for svc in services if svc.name in missing}
    kept = [svc for svc in services if svc.name not in dropped]
    for name in sorted(dropped):
        needed_by = sorted(svc.name for svc in kept if name in svc.depends_on)
        if needed_by:
            raise ComposeError(
                f"compose service {name} needs image {missing[name]}, which is not on this "
                f"Docker engine and cannot be pulled here, and {', '.join(needed_by)} "
                "depend on it; map it in BASE_IMAGE_OVERRIDES to a local image or build it"
            )
    notes = [
        f"compose service {svc.name} left out: its image {missing[svc.name]} is not on this "
        "Docker engine and cannot be pulled here, and no service that starts depends on it"
        for svc in services
        if svc.name in dropped
    ]
    return kept, notes
