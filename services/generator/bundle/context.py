"""Turn an Analysis into sanitized generator inputs: every later step reads only these."""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass, field

from shared.analysis import Analysis

from .quoting import JOB_ID_RE, render_shell_command, safe_health_path, single_line

__all__ = ["Context", "UnsupportedStackError", "build_context"]

logger = logging.getLogger(__name__)

_LANGUAGES: dict[str, str] = {
    "python": "python", "py": "python",
    "node": "node", "nodejs": "node", "node.js": "node", "javascript": "node",
    "js": "node", "typescript": "node", "ts": "node",
    "go": "go", "golang": "go",
    "java": "java", "kotlin": "java",
    "csharp": "dotnet", "c#": "dotnet", "dotnet": "dotnet", ".net": "dotnet",
    "fsharp": "dotnet", "f#": "dotnet",
    "ruby": "ruby",
    "php": "php",
    "rust": "rust",
    "elixir": "elixir",
    "deno": "deno",
    "static": "static", "html": "static",
}  # fmt: skip

_FRAMEWORKS: dict[str, str] = {
    "next.js": "next", "nextjs": "next", "nuxt.js": "nuxt", "nuxtjs": "nuxt",
    "svelte-kit": "sveltekit", "@sveltejs/kit": "sveltekit", "nestjs": "nest",
    "@nestjs/core": "nest", "create-react-app": "cra", "react-scripts": "cra",
    "react": "vite", "vue": "vite", "svelte": "vite", "preact": "vite", "solid": "vite",
    "astro": "vite", "gatsby": "vite", "spa": "vite",
    "spring-boot": "spring", "spring boot": "spring", "springboot": "spring",
    "ruby on rails": "rails", "ror": "rails",
    "aspnet": "aspnet", "asp.net": "aspnet", "asp.net core": "aspnet",
    "phoenix": "phoenix", "gin": "gin", "fiber": "fiber", "echo": "echo",
}  # fmt: skip

# Frameworks that are built into static files and served by nginx.
SPA_FRAMEWORKS = frozenset({"vite", "cra", "angular"})

_DEFAULT_PORTS: dict[str, int] = {
    "flask": 5000, "fastapi": 8000, "django": 8000, "streamlit": 8501, "gradio": 7860,
    "python": 8000, "node": 3000, "go": 8080, "java": 8080, "dotnet": 8080,
    "rails": 3000, "sinatra": 4567, "ruby": 9292, "php": 8080, "rust": 8080,
    "phoenix": 4000, "elixir": 4000, "deno": 8000, "static": 8080, "astro-node": 4321,
}  # fmt: skip

_VERSION_RE = re.compile(r"v?(\d{1,2})(?:\.(\d{1,2}))?")


class UnsupportedStackError(ValueError):
    """The analysis names a language the generator has no Dockerfile for."""


@dataclass
class Context:
    """Sanitized, normalized inputs for one bundle."""

    job_id: str
    language: str
    framework: str | None
    package_manager: str | None
    runtime_major_minor: tuple[int, int | None] | None
    port: int
    port_reason: str
    health_path: str
    start_command: str | None
    start_command_raw: str | None
    build_command: str | None
    files: frozenset[str]
    tree_known: bool
    binds_loopback: bool
    services: tuple[str, ...]
    app_root: str
    static_dir: str | None = None
    app_object: str | None = None
    notes: list[str] = field(default_factory=list)

    def has(self, *paths: str) -> bool:
        """True when any of ``paths`` (relative to the app root) is in the repository."""
        return any(p in self.files for p in paths)

    def first(self, *paths: str) -> str | None:
        """The first of ``paths`` present in the repository."""
        return next((p for p in paths if p in self.files), None)


def _normalize_language(analysis: Analysis) -> str | None:
    raw = (analysis.language or "").strip().lower()
    framework = (analysis.framework or "").strip().lower()
    if framework == "deno":
        return "deno"
    if raw in _LANGUAGES:
        return _LANGUAGES[raw]
    if (
        raw in ("", "unknown")
        and analysis.tree
        and any(p.endswith("index.html") for p in analysis.tree)
    ):
        return "static"
    return None


def _normalize_framework(analysis: Analysis) -> str | None:
    raw = (analysis.framework or "").strip().lower()
    if not raw or raw in ("none", "plain", "unknown"):
        return None
    if raw == "astro" and not analysis.static_dir:
        # An Astro app with @astrojs/node builds a Node server, not static files.
        return "astro-node"
    return _FRAMEWORKS.get(raw, raw)


def _relative_files(analysis: Analysis, app_root: str) -> frozenset[str]:
    if app_root in ("", "."):
        return frozenset(posixpath.normpath(p) for p in analysis.tree)
    prefix = app_root.rstrip("/") + "/"
    return frozenset(
        posixpath.normpath(p[len(prefix) :]) for p in analysis.tree if p.startswith(prefix)
    )


def _safe_app_root(root: str) -> str:
    norm = posixpath.normpath(root or ".")
    if norm.startswith(("/", "..")) or not re.fullmatch(r"[A-Za-z0-9._/-]+", norm):
        raise UnsupportedStackError(
            f"app_root {single_line(root)!r} is not a relative path inside the repository; "
            "fix the analysis or point the description at the app's folder"
        )
    return norm


_APP_OBJECT = re.compile(r"[A-Za-z_][\w.]{0,100}:[A-Za-z_]\w{0,100}")


def _safe_app_object(value: object) -> str | None:
    """``module:name`` as the analyzer found it; anything else (it reaches a CMD) is dropped."""
    return value if isinstance(value, str) and _APP_OBJECT.fullmatch(value) else None


def _safe_static_dir(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    norm = posixpath.normpath(value)
    if norm.startswith(("/", "..")) or not re.fullmatch(r"[A-Za-z0-9._/-]+", norm):
        return None
    return norm


def build_context(analysis: Analysis, *, job_id: str) -> Context:
    """Validate and normalize what the generator takes from ``analysis``."""
    if not JOB_ID_RE.fullmatch(job_id):
        raise ValueError(
            f"job_id {single_line(job_id)!r} must match {JOB_ID_RE.pattern}: "
            "it is used in resource names, tags and labels"
        )
    language = _normalize_language(analysis)
    existing = analysis.docker
    if language is None and existing and (existing.dockerfile or existing.compose_file):
        # Nothing to template, but the repository's own Docker files can be reused.
        language = "docker"
    if language is None:
        raise UnsupportedStackError(
            f"no Dockerfile template for language {single_line(analysis.language or 'unknown')!r}; "
            "add a Dockerfile to the repository and it will be reused"
        )
    framework = _normalize_framework(analysis)
    app_root = _safe_app_root(analysis.app_root)
    notes: list[str] = []

    default_port = _DEFAULT_PORTS.get(framework or "", _DEFAULT_PORTS.get(language, 8080))
    if analysis.port is not None and 1 <= analysis.port.value <= 65535:
        port = analysis.port.value
        port_reason = f"port {port} from the analysis ({analysis.port.source})"
    else:
        port = default_port
        port_reason = f"port {port}: the {framework or language} default (the analysis found none)"

    start_raw = analysis.start_command
    start = render_shell_command(start_raw)
    if start_raw and start is None:
        notes.append(
            "The analysed start command was not used: it contains shell syntax other than "
            "plain commands joined by `&&` (or control characters), so the stack default runs."
        )
        logger.warning("start command refused for job %s", job_id)
    build = render_shell_command(analysis.build_command)
    if analysis.build_command and build is None:
        notes.append("The analysed build command was not used for the same reason.")

    version: tuple[int, int | None] | None = None
    if analysis.runtime_version:
        match = _VERSION_RE.match(analysis.runtime_version.strip())
        if match:
            version = (int(match.group(1)), int(match.group(2)) if match.group(2) else None)

    health = safe_health_path(analysis.description.health_path or analysis.health_path)
    return Context(
        job_id=job_id,
        language=language,
        framework=framework,
        package_manager=(analysis.package_manager or "").strip().lower() or None,
        runtime_major_minor=version,
        port=port,
        port_reason=port_reason,
        health_path=health,
        start_command=start,
        start_command_raw=single_line(start_raw) if start_raw else None,
        build_command=build,
        files=_relative_files(analysis, app_root),
        tree_known=bool(analysis.tree),
        binds_loopback=analysis.binds_loopback,
        # An optional service (used only when a variable is set) is neither started nor wired.
        services=tuple(analysis.needed_service_kinds()),
        app_root=app_root,
        static_dir=_safe_static_dir(getattr(analysis, "static_dir", None)),
        app_object=_safe_app_object(getattr(analysis, "app_object", None)),
        notes=notes,
    )


def default_port_for(ctx: Context) -> int:
    """The port the stack listens on by default."""
    return _DEFAULT_PORTS.get(ctx.framework or "", _DEFAULT_PORTS.get(ctx.language, 8080))
