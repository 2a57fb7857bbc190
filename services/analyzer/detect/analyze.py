"""Putting the detectors together: one Analysis, every conclusion with its reasons."""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import get_args

from shared.analysis import (
    Analysis,
    AppCandidate,
    BackingService,
    DescriptionRequest,
    EnvVar,
    Evidence,
    PortFinding,
    Target,
)

from ._common import is_secret_name
from ._fs import RepoSnapshot, walk_repository
from ._model import AppContext, AppFinding, BindHit, EnvHit, PortHit, PortSource, ServiceHit
from .bindswitch import find_bind_switches
from .description import parse_description
from .docker import DockerFindings, ProcfileFinding, detect_docker, detect_procfile
from .gunicorn_conf import gunicorn_config_bind
from .optional_services import find_optional_services, services_named_by
from .platform_config import detect_platform_config
from .roots import choose_app, discover_roots, findings_for_root

__all__ = ["analyze_repository", "choose_target"]

logger = logging.getLogger(__name__)

_PORT_PRIORITY: tuple[PortSource, ...] = get_args(PortSource)
_PORT_SOURCE_TEXT: dict[PortSource, str] = {
    "description": "the description asks for it",
    "dockerfile": "the existing Dockerfile says so",
    "compose": "the existing compose file maps it",
    "code": "the code listens on it",
    "cli": "the start command passes it",
    "procfile": "the author's start command (Procfile or platform config) uses it",
    "framework-default": "it is the framework's default",
}
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", "ip6-localhost"})
_ALL_INTERFACES = frozenset({"0.0.0.0", "::", "[::]", "*", "+", ""})
_SERVICE_KINDS = ("postgres", "mysql", "redis", "mongodb", "rabbitmq", "memcached", "elasticsearch")
# Servers that bind loopback unless given a host: running them bare hides the app.
_LOOPBACK_BY_DEFAULT = re.compile(
    r"^(?:python -m )?(?:uvicorn|gunicorn|hypercorn|flask\b.*\brun)\b"
)
# Production servers a Procfile or Dockerfile starts, and the port each takes when the command
# names none: the framework's own dev-server default (Flask's 5000) no longer applies.
_SERVER_DEFAULT_PORT = {
    "gunicorn": 8000,
    "uvicorn": 8000,
    "hypercorn": 8000,
    "daphne": 8000,
    "waitress-serve": 8080,
}
_SERVER_IN_COMMAND = re.compile(r"^(?:exec\s+)?(?:python3?\s+-m\s+)?(?P<server>[\w-]+)")
_BUILDPACK_LAUNCHER = re.compile(r"^heroku-php-(?:apache2|nginx)\b")
_READS_PORT = re.compile(r"\$\{?PORT\b")
_RUNS_SCRIPT = re.compile(r"^(?:python3?|node|ruby|deno|bun|php|\./|java|dotnet|go run)\b")


def _ev_text(ev: Evidence) -> str:
    return f"{ev.file}:{ev.line}" if ev.line else ev.file


def _decide_port(
    finding: AppFinding,
    request: DescriptionRequest,
    dock: DockerFindings,
    proc: ProcfileFinding | None,
    server_default: tuple[int, str] | None,
    command_hits: list[PortHit],
) -> tuple[PortFinding | None, list[str], str]:
    hits: list[PortHit] = list(command_hits)
    if request.port:
        hits.append(
            PortHit(
                request.port,
                "description",
                [Evidence(file="description", text=f"port {request.port}")],
            )
        )
    hits.extend(dock.ports)
    hits.extend(finding.ports)
    if proc is not None and proc.port:
        hits.append(PortHit(proc.port, "procfile", [proc.evidence]))
    default_port, default_reason = finding.default_port, finding.default_port_reason
    if server_default is not None:
        default_port, default_reason = server_default
    if default_port:
        hits.append(
            PortHit(
                default_port,
                "framework-default",
                [Evidence(file=finding.display_root, text=default_reason)],
            )
        )
    if not hits:
        return None, [], ""
    hits.sort(key=lambda h: _PORT_PRIORITY.index(h.source))
    chosen = hits[0]
    conflicts = [
        f"{h.source} says port {h.value} ({_ev_text(h.evidence[0])}) but {chosen.source} says "
        f"{chosen.value}; using {chosen.value}"
        for h in hits[1:]
        if h.value != chosen.value and h.source != "framework-default"
    ]
    why = f"port {chosen.value}: {_PORT_SOURCE_TEXT[chosen.source]}"
    if chosen.source != "framework-default" and chosen.evidence:
        why += f" ({_ev_text(chosen.evidence[0])})"
    elif chosen.source == "framework-default":
        why += f" ({default_reason})"
    return (
        PortFinding(value=chosen.value, source=chosen.source, evidence=chosen.evidence),
        conflicts,
        why,
    )


def _decide_bind(binds: list[BindHit]) -> tuple[str | None, bool, str]:
    loop = next(
        (b for b in binds if b.address.lower() in _LOOPBACK or b.address.startswith("127.")), None
    )
    if loop is not None:
        return (
            "127.0.0.1",
            True,
            (
                f"the app binds {loop.address} ({_ev_text(loop.evidence)}): only reachable "
                "from inside its container; it must be made to bind 0.0.0.0"
            ),
        )
    if binds:
        b = binds[0]
        addr = "0.0.0.0" if b.address in _ALL_INTERFACES else b.address
        return addr, False, f"the app binds {addr} ({_ev_text(b.evidence)})"
    return None, False, ""


def _merge_env(hits: list[EnvHit]) -> list[EnvVar]:
    merged: dict[str, EnvVar] = {}
    has_default: dict[str, bool] = {}
    for hit in hits:
        var = merged.get(hit.name)
        if var is None:
            var = merged[hit.name] = EnvVar(name=hit.name)
            has_default[hit.name] = False
        if var.default is None and hit.default is not None:
            var.default = hit.default
        has_default[hit.name] |= hit.has_default
        if len(var.evidence) < 5 and hit.evidence not in var.evidence:
            var.evidence.append(hit.evidence)
    out: list[EnvVar] = []
    for name in sorted(merged):
        var = merged[name]
        var.secret = is_secret_name(name, var.default)
        var.required = not has_default[name]
        if var.secret:
            var.default = None  # a secret's fallback value must not travel in events or logs
        out.append(var)
    return out


def _merge_services(hits: list[ServiceHit], request: DescriptionRequest) -> list[BackingService]:
    merged: dict[str, BackingService] = {}
    for hit in hits:
        if hit.kind not in _SERVICE_KINDS:
            continue
        svc = merged.setdefault(hit.kind, BackingService(kind=hit.kind))
        if len(svc.evidence) < 5:
            svc.evidence.append(hit.evidence)
    for kind in request.services:
        if kind in _SERVICE_KINDS:
            svc = merged.setdefault(kind, BackingService(kind=kind))
            svc.evidence.append(
                Evidence(file="description", text=f"the description asks for {kind}")
            )
    return [merged[k] for k in _SERVICE_KINDS if k in merged]


def choose_target(
    request: DescriptionRequest,
    *,
    services: list[BackingService],
    compose_service_count: int,
    cloud_credentials: bool,
) -> tuple[Target, list[str]]:
    """The deployment target: the description's, else what fits the app and the credentials."""
    if request.target is not None:
        return request.target, [f"the description asks for {request.target}"]
    if not cloud_credentials:
        return "local", [
            "no cloud credentials are configured, so the app runs on the local Docker engine"
        ]
    if services or compose_service_count > 1:
        names = ", ".join(s.kind for s in services) or f"{compose_service_count} compose services"
        return "aws-ec2", [
            f"the app needs {names} next to it; a VM running compose keeps them together (aws-ec2)"
        ]
    return "aws-serverless", [
        "a single stateless container fits a serverless container service (aws-serverless)"
    ]


def _not_a_service_reasons(snap: RepoSnapshot, findings: list[AppFinding]) -> list[str]:
    if snap.file_count == 0:
        return [
            "the repository is empty: there is nothing to deploy; push the app's code and try again"
        ]
    reasons: list[str] = []
    for f in findings:
        for why in f.non_service:
            reasons.append(f"{why}")
    if not findings:
        notebooks = [
            f"{d}/{n}" if d else n
            for d, names in snap.files_by_dir.items()
            for n in names
            if n.endswith(".ipynb")
        ]
        if notebooks:
            reasons.append(
                "the repository holds only Jupyter notebooks "
                f"({', '.join(sorted(notebooks)[:3])}); a notebook is not a web service: "
                "wrap it in an app (e.g. Streamlit, Gradio or FastAPI)"
            )
    head = "no web framework or HTTP server found"
    detail = (
        "; ".join(dict.fromkeys(reasons)) if reasons else f"looked at {snap.file_count} file(s)"
    )
    return [
        f"{head}; {detail}. autodeploy deploys HTTP services: add a web server, or point the "
        "description at the folder that has one"
    ]


def analyze_repository(
    root: Path,
    *,
    description: str,
    commit_sha: str = "",
    cloud_credentials: bool = False,
    max_tree_entries: int = 2000,
) -> Analysis:
    """Understand a checked-out repository deterministically; every conclusion says why."""
    request = parse_description(description)
    snap = walk_repository(root, max_tree_entries=max_tree_entries)
    analysis = Analysis(
        commit_sha=commit_sha,
        tree=snap.tree,
        tree_truncated=snap.tree_truncated,
        file_count=snap.file_count,
        description=request,
    )
    if snap.skipped_symlinks:
        analysis.reasons.append(
            f"skipped {snap.skipped_symlinks} symlink(s): they are never followed"
        )
    roots = discover_roots(snap)
    per_root = {r: findings_for_root(snap, r, roots) for r in roots}
    for r, fs in per_root.items():
        if fs:
            best = fs[0]
            analysis.candidates.append(
                AppCandidate(
                    root=best.display_root,
                    language=best.language,
                    framework=best.framework,
                    is_web=best.is_web,
                    evidence=best.evidence[:5],
                )
            )
        logger.debug("root %s: %s", r or ".", [(f.language, f.framework, f.kind) for f in fs])
    chosen, why = choose_app(per_root, description, request)
    analysis.reasons.extend(why)

    target, target_reasons = "local", ["no app to deploy"]
    if chosen is None:
        all_findings = [f for fs in per_root.values() for f in fs]
        analysis.verdict = "not-a-service"
        analysis.verdict_reasons = _not_a_service_reasons(snap, all_findings)
        first = all_findings[0] if all_findings else None
        if first is not None:
            analysis.app_root = first.display_root
            analysis.language = first.language
            analysis.framework = first.framework
            analysis.package_manager = first.package_manager
            analysis.runtime_version = first.runtime_version
        analysis.target, analysis.target_reasons = target, target_reasons  # type: ignore[assignment]
        analysis.reasons.extend(analysis.verdict_reasons)
        return analysis

    _describe_app(analysis, snap, chosen, request, cloud_credentials)
    return analysis


def _describe_app(
    analysis: Analysis,
    snap: RepoSnapshot,
    app: AppFinding,
    request: DescriptionRequest,
    cloud: bool,
) -> None:
    analysis.app_root = app.display_root
    analysis.language = app.language
    analysis.framework = app.framework
    analysis.package_manager = app.package_manager
    analysis.runtime_version = app.runtime_version
    analysis.build_command = app.build_command
    analysis.static_dir = app.static_dir
    analysis.app_object = app.app_object
    analysis.verdict = "http-service"
    analysis.verdict_reasons = [f"{app.framework or app.language} web app in `{app.display_root}`"]
    analysis.reasons.extend(app.reasons)
    if app.runtime_version and app.runtime_evidence:
        analysis.reasons.append(
            f"runtime {app.language} {app.runtime_version} ({_ev_text(app.runtime_evidence)})"
        )

    dock = detect_docker(snap, app.root)
    analysis.docker = dock.docker
    analysis.reasons.extend(dock.reasons)
    if dock.compose_project and dock.docker and dock.docker.compose_file:
        analysis.framework = "compose"
        analysis.app_root = posixpath.dirname(dock.docker.compose_file) or "."
    proc = detect_procfile(snap, app.root) or detect_platform_config(snap, app.root)
    if proc is not None and _BUILDPACK_LAUNCHER.match(proc.command):
        # heroku-php-apache2/nginx exist only inside Heroku's buildpack; the stack's own
        # command (with the document root the Procfile names) runs the same app anywhere.
        analysis.reasons.append(
            f"{proc.label} ({_ev_text(proc.evidence)}) runs a Heroku buildpack "
            "launcher that exists only on Heroku; using the stack's own start command"
        )
        proc = None
    if proc is not None and proc.build_command and proc.build_evidence is not None:
        analysis.build_command = proc.build_command
        analysis.reasons.append(f"build command from {_ev_text(proc.build_evidence)}")

    # Start command: the author's own Procfile or Dockerfile first, then what the stack implies.
    start_from = "detector"
    start_evidence: Evidence | None = None
    start = app.start_command
    binds = list(app.binds)
    if proc is not None:
        start, start_from, start_evidence = proc.command, "procfile", proc.evidence
        analysis.reasons.append(f"start command from {proc.label} ({_ev_text(proc.evidence)})")
        binds = (
            [BindHit(proc.bind, proc.evidence)]
            if proc.bind
            else _implied_binds(proc.command, proc.evidence, app.binds)
        )
    elif dock.command and dock.command_evidence is not None:
        start, start_from = dock.command, "dockerfile"
        start_evidence = dock.command_evidence
        analysis.reasons.append(
            f"start command from the existing Dockerfile ({_ev_text(dock.command_evidence)})"
        )
        binds = dock.binds or _implied_binds(dock.command, dock.command_evidence, app.binds)
    elif app.start_reason:
        analysis.reasons.append(f"start command: {app.start_reason}")

    started_by = _started_by(proc, start_from)
    start_env, server_default = _start_command_port(start, start_evidence, started_by)
    command_hits: list[PortHit] = []
    if start_evidence is not None and (conf := gunicorn_config_bind(snap, app.root, start)):
        # The config file gunicorn loads binds, not the bare command (127.0.0.1:8000).
        analysis.reasons.append(
            f"gunicorn, started by {started_by} ({_ev_text(start_evidence)}), loads "
            f"{conf.config}: its bind is at {_ev_text(conf.evidence)}"
        )
        if conf.port is not None:
            command_hits.append(PortHit(conf.port, "cli", [conf.evidence]))
        if conf.host is not None:
            binds = [BindHit(conf.host, conf.evidence)]
    port, conflicts, port_why = _decide_port(app, request, dock, proc, server_default, command_hits)
    analysis.port = port
    analysis.conflicts.extend(conflicts)
    if port_why:
        analysis.reasons.append(port_why)
    if start and port is not None:
        start = start.replace("{port}", str(port.value))
    analysis.start_command = start

    if not binds and start and "0.0.0.0" in start:
        binds = [BindHit("0.0.0.0", Evidence(file=app.display_root, text=start))]
    addr, loopback, bind_why = _decide_bind(binds)
    analysis.bind_address, analysis.binds_loopback = addr, loopback
    if bind_why:
        analysis.reasons.append(bind_why)
    switches = _apply_bind_switches(analysis, AppContext(snap, app.root))

    analysis.env_vars = _merge_env([*app.env, *dock.env, *start_env, *switches])
    analysis.services = _merge_services([*app.services, *dock.services], request)
    _mark_optional_services(
        analysis, AppContext(snap, app.root), keep={s.kind for s in dock.services}
    )
    needed = [s for s in analysis.services if not s.optional]
    if needed:
        analysis.reasons.append(
            "needs " + ", ".join(f"{s.kind} ({_ev_text(s.evidence[0])})" for s in needed)
        )
    if request.health_path:
        analysis.health_path = request.health_path
        analysis.reasons.append(f"health path {request.health_path}: the description says so")
    elif app.health:
        path, ev = app.health[0]
        analysis.health_path = path
        analysis.reasons.append(f"health path {path}: a route in {_ev_text(ev)}")
    else:
        analysis.reasons.append("health path /: no health route found in the code")
    analysis.target, analysis.target_reasons = choose_target(
        request,
        services=needed,
        compose_service_count=dock.compose_service_count,
        cloud_credentials=cloud,
    )


def _mark_optional_services(analysis: Analysis, ctx: AppContext, *, keep: set[str]) -> None:
    """Mark the services the code uses only when an env variable is set, unless the
    repository's compose file runs them or the description asks for them."""
    keep = keep | set(analysis.description.services)
    tested = find_optional_services(ctx)
    optional: set[str] = set()
    for svc in analysis.services:
        if svc.kind in keep or svc.kind not in tested:
            continue
        name, ev = tested[svc.kind]
        if name in analysis.description.env:
            continue  # the user sets it: the app will use the service
        svc.optional, svc.condition = True, ev
        optional.add(svc.kind)
        analysis.reasons.append(
            f"{svc.kind} is optional: the code uses it only when {name} is set "
            f"({_ev_text(ev)}); it is not started, and {name} is left unset"
        )
    for var in analysis.env_vars:
        if var.required and any(k in optional for k in services_named_by(var.name)):
            var.required = False


def _started_by(proc: ProcfileFinding | None, start_from: str) -> str:
    if start_from == "procfile" and proc is not None:
        return proc.label
    return "the existing Dockerfile"


def _start_command_port(
    start: str | None, evidence: Evidence | None, where: str
) -> tuple[list[EnvHit], tuple[int, str] | None]:
    """What the author's own start command says about the port: that the app reads $PORT
    (an env read at the command's line), and the default of the server it starts."""
    if start is None or evidence is None:
        return [], None
    env = [EnvHit("PORT", None, False, evidence)] if _READS_PORT.search(start) else []
    m = _SERVER_IN_COMMAND.match(start.strip())
    server = m.group("server") if m else ""
    if server not in _SERVER_DEFAULT_PORT:
        return env, None
    port = _SERVER_DEFAULT_PORT[server]
    return env, (
        port,
        f"{server}, started by {where} ({_ev_text(evidence)}), listens on {port} by default",
    )


def _apply_bind_switches(analysis: Analysis, ctx: AppContext) -> list[EnvHit]:
    """Set the platform variable a conditional bind reads, so the app binds 0.0.0.0.

    The variable goes into the deployment's environment (the description's env, where a
    value the user gave wins) and is returned as an env read, so the analysis lists it with
    its default and the line that reads it.
    """
    hits = []
    for switch in find_bind_switches(ctx):
        env = analysis.description.env
        value = env.setdefault(switch.name, switch.value)
        analysis.reasons.append(
            f"{_ev_text(switch.evidence)} binds 0.0.0.0 only when {switch.name} is set: "
            f"the deployment sets {switch.name}={value}"
        )
        analysis.bind_address, analysis.binds_loopback = "0.0.0.0", False
        hits.append(EnvHit(switch.name, switch.value, True, switch.evidence))
    return hits


def _implied_binds(command: str, evidence: Evidence, code_binds: list[BindHit]) -> list[BindHit]:
    """Binds of a start command that names no host: the server's default, or the code's."""
    if _LOOPBACK_BY_DEFAULT.match(command):
        return [
            BindHit(
                "127.0.0.1",
                Evidence(
                    file=evidence.file,
                    line=evidence.line,
                    text=f"{command} (no host given: binds 127.0.0.1)",
                ),
            )
        ]
    if _RUNS_SCRIPT.match(command) or command.split(" ", 1)[0] in ("npm", "yarn", "pnpm", "bun"):
        return code_binds
    return []
