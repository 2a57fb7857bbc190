"""Existing Docker setup (Dockerfile, compose file) and Procfile."""

from __future__ import annotations

import bisect
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from shared.analysis import Evidence, ExistingDocker
from shared.composefile import (
    COMPOSE_FILES,
    ComposeDocument,
    InvalidComposeYaml,
    active_services,
    load_compose,
)

from ._common import valid_port
from ._fs import RepoSnapshot, join, load_json
from ._model import BindHit, EnvHit, PortHit, ServiceHit, evidence_at, line_of

__all__ = [
    "COMPOSE_FILES",
    "DockerFindings",
    "ProcfileFinding",
    "command_finding",
    "detect_docker",
    "detect_procfile",
    "find_dockerfile",
]

_IMAGE_SERVICES = {
    "postgres": "postgres",
    "postgis": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "valkey": "redis",
    "mongo": "mongodb",
    "rabbitmq": "rabbitmq",
    "memcached": "memcached",
    "elasticsearch": "elasticsearch",
    "opensearch": "elasticsearch",
}
_EXPOSE = re.compile(r"^\s*EXPOSE\s+(?P<ports>.+)$", re.M | re.I)
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<image>\S+)", re.M | re.I)
_CMD = re.compile(r"^\s*(?P<kw>CMD|ENTRYPOINT)\s+(?P<body>.+)$", re.M | re.I)
_ENV_LINE = re.compile(r"^\s*(?:ENV|ARG)\s+(?P<body>.+)$", re.M | re.I)
# `\b`: a pair is tried only where a word starts; `(\w+)=` alone retried a long word
# without `=` from each of its letters (ENV + 20,000 letters: 14 s).
_ENV_PAIR = re.compile(r"""\b(\w+)=("[^"]*"|'[^']*'|\S*)""")
_PORT_IN_CMD = re.compile(
    r"(?:--port[= ]|-p\s+|--bind[= ][\w.]*:|0\.0\.0\.0:|:)(?P<port>\d{2,5})\b"
)
# `-b :$PORT` (no host) and `--bind "[::]:$PORT"` bind every interface, as `0.0.0.0` does.
_HOST_IN_CMD = re.compile(
    r"""(?:--host[= ]|--bind[= ]|-b\s+)["']?(?P<addr>\[[0-9A-Fa-f:]*\]|[\w.]+|(?=:))"""
)


def _host(m: re.Match[str]) -> str:
    return m.group("addr") or "0.0.0.0"


# Linear in the line: `.+?\s*$` tried every split of a line of spaces (a 250 KB Procfile
# line held the analyzer for 571 s). `*+` never gives blanks back to the command.
_PROCFILE_WEB = re.compile(r"^web:[ \t]*+(?P<cmd>[^\n]*\S)", re.M)


@dataclass
class DockerFindings:
    """What the Docker files say about the app."""

    docker: ExistingDocker | None = None
    ports: list[PortHit] = field(default_factory=list)
    env: list[EnvHit] = field(default_factory=list)
    services: list[ServiceHit] = field(default_factory=list)
    binds: list[BindHit] = field(default_factory=list)
    command: str | None = None
    command_evidence: Evidence | None = None
    compose_service_count: int = 0
    # The compose file runs the app as several services, some built from the repository:
    # it deploys as that project (stack `compose`), not as one service picked out of it.
    compose_project: bool = False
    reasons: list[str] = field(default_factory=list)


def _parse_command(body: str, rel: str) -> str:
    body = body.strip()
    if body.startswith("["):
        parts = load_json(body, source=rel)
        if isinstance(parts, list):
            return " ".join(str(p) for p in parts)
    return body


def _dockerfile(snap: RepoSnapshot, rel: str, out: DockerFindings) -> None:
    text = snap.read(rel)
    if text is None:
        return
    raw = text
    text = re.sub(r"\\\n", " ", text)  # continuation lines become one instruction
    # Each join removed one character: the joined offset of the k-th join is its raw one - k.
    joins = [m.start() - k for k, m in enumerate(re.finditer(r"\\\n", raw))]

    def evidence_for(index: int) -> Evidence:
        """Evidence for a joined offset, on the physical line a person sees in the file."""
        physical = index + bisect.bisect_left(joins, index)
        return evidence_at(rel, text, index).model_copy(update={"line": line_of(raw, physical)})

    assert out.docker is not None
    out.docker.dockerfile = rel
    variables: dict[str, str] = {}
    for m in _ENV_LINE.finditer(text):
        body = m.group("body").strip()
        pairs = _ENV_PAIR.findall(body) or (
            [tuple(body.split(None, 1))] if " " in body else [(body, "")]
        )
        for key, value in pairs:
            value = value.strip("\"'")
            variables[key] = value
            if m.group(0).lstrip().upper().startswith("ENV"):
                out.env.append(EnvHit(key, value or None, bool(value), evidence_for(m.start())))
    for m in _EXPOSE.finditer(text):
        for token in m.group("ports").split():
            token = token.split("/", 1)[0]
            if token.startswith("$"):
                token = variables.get(token.strip("${}"), "")
            if (port := valid_port(token)) and port not in out.docker.exposed_ports:
                out.docker.exposed_ports.append(port)
                out.ports.append(PortHit(port, "dockerfile", [evidence_for(m.start())]))
    if not out.docker.exposed_ports and (served := _image_port(text)) is not None:
        port, offset = served
        out.ports.append(PortHit(port, "dockerfile", [evidence_for(offset)]))
    cmds = list(_CMD.finditer(text))
    if cmds:
        last = cmds[-1]
        out.command = _parse_command(last.group("body"), rel)
        out.command_evidence = evidence_for(last.start())
        if (pm := _PORT_IN_CMD.search(out.command)) and (port := valid_port(pm.group("port"))):
            out.ports.append(PortHit(port, "dockerfile", [out.command_evidence]))
        if hm := _HOST_IN_CMD.search(out.command):
            out.binds.append(BindHit(_host(hm), out.command_evidence))
    out.reasons.append(
        f"existing {rel}"
        + (
            f" exposes {', '.join(map(str, out.docker.exposed_ports))}"
            if out.docker.exposed_ports
            else ""
        )
    )


def _image_port(text: str) -> tuple[int, int] | None:
    """The port the final stage's web-server image serves on without an EXPOSE of its own
    (nginx, httpd, php:*-apache listen on 80), with the FROM line's offset."""
    stages = list(_FROM.finditer(text))
    if not stages:
        return None
    last = stages[-1]
    image = last.group("image").lower()
    name, _, tag = image.rpartition("/")[2].partition(":")
    if name in ("nginx", "httpd") or (name == "php" and "apache" in tag):
        return 80, last.start()
    return None


def _container_port(spec: Any) -> int | None:
    if isinstance(spec, int):
        return valid_port(spec)
    if isinstance(spec, dict):
        return valid_port(spec.get("target", ""))
    if isinstance(spec, str):
        last = spec.split("/", 1)[0].rsplit(":", 1)[-1]
        return valid_port(last.split("-", 1)[0])
    return None


def _service_evidence(doc: ComposeDocument, name: str, rel: str) -> Evidence:
    """Where service `name` is written in `rel` (its first line when not found)."""
    text = doc.texts.get(rel, "")
    idx = text.find(f"{name}:")
    return evidence_at(rel, text, max(idx, 0))


def _compose(snap: RepoSnapshot, rel: str, app_root: str, out: DockerFindings) -> None:
    try:
        doc = load_compose(snap.read, rel)
    except InvalidComposeYaml as exc:
        out.reasons.append(f"{exc.source} is not valid YAML; ignored")
        return
    if doc is None or not isinstance(doc.data.get("services"), dict):
        return
    # Services behind a profile do not start with `docker compose up`.
    services: dict[str, Any] = active_services(doc.data)
    if not services:
        return
    assert out.docker is not None
    out.docker.compose_file = rel
    out.docker.compose_services = [str(s) for s in services]
    out.compose_service_count = len(services)
    if len(doc.files) > 1:
        out.reasons.append(f"{doc.files[1]} merged over {rel}, as `docker compose` does")
    compose_dir = posixpath.dirname(rel)
    app_service: str | None = None
    for name, svc in services.items():
        ev = _service_evidence(doc, name, rel)
        image = str(svc.get("image", "")).rsplit("/", 1)[-1].split(":", 1)[0].lower()
        if image in _IMAGE_SERVICES and "build" not in svc:
            out.services.append(ServiceHit(_IMAGE_SERVICES[image], ev))
            continue
        build = svc.get("build")
        context = build.get("context", ".") if isinstance(build, dict) else build
        if isinstance(context, str):
            resolved = posixpath.normpath(posixpath.join(compose_dir, context))
            resolved = "" if resolved == "." else resolved
            if resolved == app_root and app_service is None:
                app_service = str(name)
        if app_service is None and "build" in svc:
            app_service = str(name)
    app_service = app_service or next(
        (str(n) for n, s in services.items() if isinstance(s, dict) and s.get("ports")), None
    )
    built = [str(n) for n, s in services.items() if isinstance(s, dict) and "build" in s]
    publishing = [n for n, s in services.items() if isinstance(s, dict) and s.get("ports")]
    # Several services built here, or the app lives below the compose file's folder: the
    # repository is organised around the compose file. An app beside its compose file that
    # only adds a database stays that app (its backing services start beside it).
    around_compose = len(built) >= 2 or (bool(built) and app_root != compose_dir)
    if len(services) >= 2 and publishing and around_compose:
        out.compose_project = True
        out.reasons.append(
            f"{rel} runs {len(services)} services ({', '.join(map(str, services))}), "
            f"{', '.join(built)} built from this repository: it deploys as that compose project"
        )
    svc = services.get(app_service) if app_service is not None else None
    if isinstance(svc, dict) and app_service is not None:
        ev = _service_evidence(doc, app_service, rel)
        ports_ev = _service_evidence(doc, app_service, doc.ports_from.get(app_service, rel))
        for spec in svc.get("ports") or []:
            if (port := _container_port(spec)) and port not in out.docker.compose_ports:
                out.docker.compose_ports.append(port)
                out.ports.append(PortHit(port, "compose", [ports_ev]))
        environment = svc.get("environment")
        items: list[tuple[str, Any]] = []
        if isinstance(environment, dict):
            items = [(str(k), v) for k, v in environment.items()]
        elif isinstance(environment, list):
            for e in environment:
                key, sep, value = str(e).partition("=")
                items.append((key, value if sep else None))
        for key, value in items:
            out.env.append(
                EnvHit(key, None if value is None else str(value), value is not None, ev)
            )
    out.reasons.append(
        f"existing {rel} with services {', '.join(out.docker.compose_services)}"
        + (f"; the app is `{app_service}`" if app_service else "")
    )


# Variants for another platform: this deploys Linux containers, so they never build here.
_OTHER_PLATFORM_SUFFIXES = frozenset({"windows", "win", "nanoserver", "servercore", "dockerignore"})


def _compose_dockerfiles(snap: RepoSnapshot, compose: str | None) -> dict[str, str]:
    """Dockerfiles a compose file names (`build.dockerfile`), by the folder they build."""
    if compose is None:
        return {}
    try:
        doc = load_compose(snap.read, compose)
    except InvalidComposeYaml:
        return {}
    if doc is None or not isinstance(doc.data.get("services"), dict):
        return {}
    named: dict[str, str] = {}
    for svc in active_services(doc.data).values():
        build = svc.get("build") if isinstance(svc, dict) else None
        if not isinstance(build, dict) or not isinstance(build.get("dockerfile"), str):
            continue
        context = posixpath.normpath(
            posixpath.join(posixpath.dirname(compose), str(build.get("context", ".")))
        )
        context = "" if context == "." else context
        path = posixpath.normpath(posixpath.join(context, build["dockerfile"]))
        if not path.startswith("../") and snap.has_file(path):
            named.setdefault(context, path)
    return named


def find_dockerfile(
    snap: RepoSnapshot, folder: str, named: dict[str, str] | None = None
) -> str | None:
    """The folder's Dockerfile: `Dockerfile`, else the one its compose file names, else its
    only Linux `Dockerfile.<suffix>` (`Dockerfile.linux`, `Dockerfile.prod`)."""
    plain = join(folder, "Dockerfile")
    if snap.has_file(plain):
        return plain
    if named and folder in named:
        return named[folder]
    variants = [
        n
        for n in snap.files_by_dir.get(folder, ())
        if n.startswith("Dockerfile.")
        and n.split(".", 1)[1].lower() not in _OTHER_PLATFORM_SUFFIXES
    ]
    return join(folder, variants[0]) if len(variants) == 1 else None


def detect_docker(snap: RepoSnapshot, app_root: str) -> DockerFindings:
    """Read the app's Dockerfile and the nearest compose file (app folder, then repo root)."""
    out = DockerFindings(docker=ExistingDocker())
    compose: str | None = None
    for folder in dict.fromkeys((app_root, "")):
        compose = next(
            (join(folder, c) for c in COMPOSE_FILES if snap.has_file(join(folder, c))), None
        )
        if compose is not None:
            break
    named = _compose_dockerfiles(snap, compose)
    for folder in dict.fromkeys((app_root, "")):
        rel = find_dockerfile(snap, folder, named)
        if rel is not None:
            if not rel.endswith("/Dockerfile") and rel != "Dockerfile":
                why = "the compose file names it" if named.get(folder) == rel else "the only one"
                out.reasons.append(f"{rel} is the repository's Dockerfile ({why})")
            _dockerfile(snap, rel, out)
            break
    if compose is not None:
        _compose(snap, compose, app_root, out)
    assert out.docker is not None
    if out.docker.dockerfile is None and out.docker.compose_file is None:
        out.docker = None
    return out


@dataclass
class ProcfileFinding:
    """The author's own start command: a Procfile's `web:` line, or a platform config's."""

    command: str
    evidence: Evidence
    port: int | None = None
    bind: str | None = None
    label: str = "the Procfile's web process"
    build_command: str | None = None
    build_evidence: Evidence | None = None


def command_finding(cmd: str, evidence: Evidence, label: str) -> ProcfileFinding:
    """A start command with the port and bind it names; `$PORT` is no port of its own."""
    pm = _PORT_IN_CMD.search(cmd.replace("$PORT", "").replace("${PORT}", ""))
    hm = _HOST_IN_CMD.search(cmd)
    return ProcfileFinding(
        command=cmd,
        evidence=evidence,
        port=valid_port(pm.group("port")) if pm else None,
        bind=_host(hm) if hm else None,
        label=label,
    )


def detect_procfile(snap: RepoSnapshot, app_root: str) -> ProcfileFinding | None:
    """The Procfile's web process, if the app (or the repo root) has one."""
    for folder in dict.fromkeys((app_root, "")):
        rel = join(folder, "Procfile")
        text = snap.read(rel)
        if text is None:
            continue
        m = _PROCFILE_WEB.search(text)
        if m is None:
            continue
        return command_finding(
            m.group("cmd"), evidence_at(rel, text, m.start()), "the Procfile's web process"
        )
    return None
