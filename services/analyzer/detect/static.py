"""Static sites: an index.html with no server, or a site generator's (Hugo, Jekyll, MkDocs)."""

from __future__ import annotations

import re

from shared.analysis import Evidence

from ._fs import join
from ._model import AppContext, AppFinding, evidence_at

__all__ = ["MARKERS", "detect"]

_HUGO_CONFIGS = ("hugo.toml", "hugo.yaml", "hugo.json")
# config.* is Hugo's older config name; it counts only beside Hugo's own folders.
_HUGO_OLD_CONFIGS = ("config.toml", "config.yaml")
_HUGO_DIRS = ("layouts", "themes", "archetypes")
_JEKYLL_GEM = re.compile(r"""^\s*gem\s+["'](?:jekyll|github-pages)["']""", re.M)
MARKERS = ("index.html", "mkdocs.yml", "_config.yml", *_HUGO_CONFIGS, *_HUGO_OLD_CONFIGS)
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


def _has_dir(ctx: AppContext, name: str) -> bool:
    return join(ctx.root, name) in ctx.snap.files_by_dir


def _generator(ctx: AppContext) -> tuple[str, Evidence] | None:
    """Hugo or Jekyll, with the file that says so; both build to plain files."""
    if _has_dir(ctx, "content"):
        config = next((c for c in _HUGO_CONFIGS if ctx.has(c)), None)
        if config is None and any(_has_dir(ctx, d) for d in _HUGO_DIRS):
            config = next((c for c in _HUGO_OLD_CONFIGS if ctx.has(c)), None)
        if config is not None:
            return "hugo", Evidence(file=ctx.rel(config), line=1)
    if ctx.has("_config.yml") and (gemfile := ctx.read("Gemfile")) is not None:
        if m := _JEKYLL_GEM.search(gemfile):
            return "jekyll", evidence_at(ctx.rel("Gemfile"), gemfile, m.start())
    return None


# Generator -> (build command, output folder).
_GENERATORS = {
    "hugo": ("hugo --minify", "public"),
    "jekyll": ("bundle exec jekyll build", "_site"),
}


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a static site in this folder."""
    finding = AppFinding(root=ctx.root, language="static", package_manager=None)
    # A site generator's folder may carry a Gemfile or package.json for its build; the
    # generator's own config says what the folder is.
    if site := _generator(ctx):
        name, evidence = site
        finding.framework = name
        finding.build_command, finding.static_dir = _GENERATORS[name]
        finding.evidence.append(evidence)
        finding.reasons.append(
            f"{evidence.file}: a {name.capitalize()} site, built to {finding.static_dir}/"
        )
    elif any(ctx.has(m) for m in _APP_MANIFESTS):
        return None
    elif ctx.has("mkdocs.yml"):
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
