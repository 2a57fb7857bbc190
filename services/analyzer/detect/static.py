"""Static sites: an index.html with no server, or a docs generator's output."""

from __future__ import annotations

from shared.analysis import Evidence

from ._model import AppContext, AppFinding

__all__ = ["MARKERS", "detect"]

MARKERS = ("index.html", "mkdocs.yml")
# Manifests that mean the folder is an app of some ecosystem, whose detector decides instead.
_APP_MANIFESTS = (
    "package.json",
    "requirements.txt",
    "pyproject.toml",
    "go.mod",
    "Gemfile",
    "composer.json",
    "Cargo.toml",
    "mix.exs",
    "pom.xml",
    "build.gradle",
    "deno.json",
)


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a static site in this folder."""
    if any(ctx.has(m) for m in _APP_MANIFESTS):
        return None
    finding = AppFinding(root=ctx.root, language="static", package_manager=None)
    if ctx.has("mkdocs.yml"):
        finding.framework = "mkdocs"
        finding.build_command = "mkdocs build"
        finding.static_dir = "site"
        finding.evidence.append(Evidence(file=ctx.rel("mkdocs.yml")))
        finding.reasons.append(f"{ctx.rel('mkdocs.yml')}: an MkDocs site, built to site/")
    else:
        page = next(
            (p for p in ("index.html", "public/index.html", "site/index.html") if ctx.has(p)), None
        )
        if page is None:
            return None
        finding.framework = "static"
        finding.static_dir = page.rpartition("/")[0] or "."
        finding.evidence.append(Evidence(file=ctx.rel(page)))
        finding.reasons.append(f"{ctx.rel(page)} with no server code: a static site")
    finding.kind = "static"
    finding.default_port = 80
    finding.default_port_reason = "static files are served by a web server on port 80"
    finding.start_reason = "static files need no start command; a web server serves them"
    return finding
