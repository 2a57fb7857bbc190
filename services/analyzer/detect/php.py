"""PHP apps: Laravel, plain PHP, and PHP frameworks served from a document root."""

from __future__ import annotations

import re

from ._common import add_common, scan_env
from ._fs import load_json
from ._model import AppContext, AppFinding, ServiceHit, evidence_at

__all__ = ["MARKERS", "detect"]

MARKERS = ("composer.json", "index.php", "artisan")
_ENV = [
    (re.compile(r"""getenv\(\s*["'](?P<name>[A-Za-z_]\w*)["']\s*\)"""), False),
    (re.compile(r"""\$_(?:ENV|SERVER)\[\s*["'](?P<name>[A-Z_][A-Z0-9_]*)["']\s*\]"""), False),
    (
        re.compile(
            r"""\benv\(\s*["'](?P<name>[A-Z_][A-Z0-9_]*)["']\s*(?:,\s*(?P<default>[^)\n]*))?\)"""
        ),
        False,
    ),
]
_DB = {"mysql": "mysql", "pgsql": "postgres", "mariadb": "mysql", "mongodb": "mongodb"}
# Frameworks whose app is a front controller in the document root: served as plain PHP is,
# but named for what they are.
_DOCROOT_FRAMEWORKS = {"slim/slim": "slim", "symfony/framework-bundle": "symfony"}


# Document roots PHP apps keep their entry point in (Laravel/Symfony public/, older web/).
_DOCROOTS = ("public", "web", "htdocs")
# Heroku's PHP buildpack names the document root in the Procfile.
_PROCFILE_DOCROOT = re.compile(r"^web:\s*heroku-php-(?:apache2|nginx)\s+(?P<root>[\w.\-/]+)", re.M)


def _docroot(ctx: AppContext) -> str:
    procfile = ctx.read("Procfile")
    if procfile and (m := _PROCFILE_DOCROOT.search(procfile)):
        named = m.group("root").strip("/") or "."
        if named == "." or ctx.has(f"{named}/index.php"):
            return named
    return next((d for d in _DOCROOTS if ctx.has(f"{d}/index.php")), ".")


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a PHP app in this folder."""
    docroot = _docroot(ctx)
    if not any(ctx.has(m) for m in MARKERS) and docroot == ".":
        return None
    finding = AppFinding(
        root=ctx.root,
        language="php",
        package_manager="composer" if ctx.has("composer.json") else None,
    )
    text = ctx.read("composer.json") or "{}"
    composer = load_json(text, source=ctx.rel("composer.json"))
    require = composer.get("require", {}) if isinstance(composer, dict) else {}
    if isinstance(require, dict) and isinstance(require.get("php"), str):
        if m := re.search(r"(?<!\d)\d+\.\d+", require["php"]):  # (?<!\d): see VERSION
            finding.runtime_version = m.group(0)
            finding.runtime_evidence = evidence_at(
                ctx.rel("composer.json"), text, text.find('"php"')
            )
    sources = ctx.sources(
        (".php",),
        priority=("index.php", f"{docroot}/index.php", "routes/web.php", "routes/api.php"),
        limit=30,
    )
    finding.env.extend(scan_env(sources, _ENV))
    add_common(ctx, finding, sources)
    for hit in finding.env:
        if hit.name == "DB_CONNECTION" and hit.default in _DB:
            finding.services.append(ServiceHit(_DB[hit.default], hit.evidence))
    if isinstance(require, dict) and "laravel/framework" in require:
        finding.framework = "laravel"
        finding.kind = "server"
        finding.evidence.append(
            evidence_at(ctx.rel("composer.json"), text, text.find("laravel/framework"))
        )
        finding.reasons.append("laravel/framework is required in composer.json")
        finding.default_port = 8000
        finding.default_port_reason = "`php artisan serve` listens on 8000 by default"
        finding.start_command = "php artisan serve --host=0.0.0.0 --port={port}"
        finding.start_reason = "Laravel app served by artisan"
        return finding
    if ctx.has("index.php") or docroot != ".":
        finding.framework = "php"
        finding.kind = "server"
        entry = ctx.rel("index.php" if docroot == "." else f"{docroot}/index.php")
        finding.evidence.append(evidence_at(entry, "", 0))
        finding.reasons.append(f"PHP entry point {entry}")
        for package, name in _DOCROOT_FRAMEWORKS.items():
            if isinstance(require, dict) and package in require:
                finding.framework = name
                finding.evidence.append(
                    evidence_at(ctx.rel("composer.json"), text, text.find(f'"{package}"'))
                )
                finding.reasons.append(f"{package} is required in composer.json")
                break
        finding.default_port = 8080
        finding.default_port_reason = "plain PHP is served with the built-in server on 8080"
        finding.start_command = f"php -S 0.0.0.0:{{port}} -t {docroot}"
        finding.start_reason = f"plain PHP with document root {docroot}"
        return finding
    if isinstance(composer, dict) and composer.get("bin"):
        finding.non_service.append(f"{ctx.rel('composer.json')} declares a CLI (`bin`)")
    else:
        finding.non_service.append(
            f"{ctx.rel('composer.json')} describes a PHP library (no index.php)"
        )
    return finding
