"""Base-image overrides and the non-Terraform release checks (hadolint, shellcheck, compose)."""

from __future__ import annotations

import re

import pytest

from services.generator.bundle import apply_base_image_overrides, generate_bundle, validate_bundle
from services.generator.bundle.validate import validate_bundle_report
from tests.generator.stacks import STACKS


@pytest.mark.parametrize(
    ("image", "overrides", "expected"),
    [
        (
            "python:3.12-slim",
            {"python:3.12-slim": "autodeploy-local/python:3.12-slim"},
            "autodeploy-local/python:3.12-slim",
        ),
        (
            "python:3.12-slim",
            {"*": "mirror.example:5000/library/"},
            "mirror.example:5000/library/python:3.12-slim",
        ),
        (
            "mcr.microsoft.com/dotnet/sdk:8.0",
            {"*": "mirror.example:5000/library/"},
            "mcr.microsoft.com/dotnet/sdk:8.0",
        ),
        (
            "mcr.microsoft.com/dotnet/sdk:8.0",
            {"mcr.microsoft.com/*": "m:5000/mcr/"},
            "m:5000/mcr/dotnet/sdk:8.0",
        ),
        ("node:20-slim", {"*": "a/", "node:20-slim": "local/node"}, "local/node"),
        ("golang:1.22", {}, "golang:1.22"),
    ],
)
def test_apply_base_image_overrides(image: str, overrides: dict[str, str], expected: str) -> None:
    assert apply_base_image_overrides(image, overrides) == expected


def test_overrides_reach_every_from_line_but_not_stage_names() -> None:
    bundle = generate_bundle(
        STACKS["java-spring-maven"], job_id="j", base_images={"*": "mirror.example:5000/library/"}
    )
    froms = re.findall(r"^FROM (\S+)", bundle["Dockerfile"], re.MULTILINE)
    assert froms == [
        "mirror.example:5000/library/maven:3.9-eclipse-temurin-21",
        "mirror.example:5000/library/eclipse-temurin:21-jre-alpine",
    ]
    assert "COPY --from=build " in bundle["Dockerfile"]
    # Backing service images follow the same mapping (air-gapped hosts pull nothing).
    assert "image: mirror.example:5000/library/mysql:8.4" in bundle["compose.yaml"]
    assert validate_bundle(bundle) == []


def test_hadolint_error_is_a_violation_and_info_is_only_a_warning() -> None:
    bad = (
        "FROM python:3.12-slim\nWORKDIR app\nADD . /app\nRUN pip install flask\nCMD python app.py\n"
    )
    report = validate_bundle_report({"Dockerfile": bad})
    assert {v.rule for v in report.violations} == {"hadolint-DL3000", "hadolint-DL3020"}
    assert all(v.file == "Dockerfile" and v.line for v in report.violations)
    assert "hadolint-DL3025" in {w.rule for w in report.warnings}


def test_shellcheck_finding_is_a_violation() -> None:
    script = "#!/bin/sh\nfor f in $(ls *.txt); do rm $f; done\n"
    violations = validate_bundle({"scripts/clean.sh": script})
    assert violations and all(v.rule.startswith("shellcheck-SC") for v in violations)
    assert violations[0].line == 2


@pytest.mark.parametrize(
    ("compose", "fragment"),
    [
        ("services: [a, b]\n", "non-empty `services` mapping"),
        ("services:\n  app:\n    ports: ['8080:80']\n", "neither `image` nor `build`"),
        ("services:\n  app:\n    image: x:1\n    ports: ['eighty']\n", "port 'eighty'"),
        ("services:\n  app:\n    image: x:1\n    depends_on: [db]\n", "depends on 'db'"),
        (
            "services:\n  app:\n    image: x:1\n"
            "    depends_on:\n      db: {condition: service_healthy}\n"
            "  db:\n    image: postgres:16\n",
            "no healthcheck",
        ),
        ("services:\n  app: {image: [unclosed\n", "not valid YAML"),
    ],
)
def test_compose_structure_checks(compose: str, fragment: str) -> None:
    violations = validate_bundle({"compose.yaml": compose})
    assert [v.rule for v in violations] == ["compose-invalid"]
    assert fragment in violations[0].message


def test_valid_compose_passes() -> None:
    compose = (
        "services:\n  app:\n    image: x:1\n"
        "    ports: ['${HOST_PORT:-8080}:80', '127.0.0.1:9000:9000/tcp']\n"
    )
    assert validate_bundle({"compose.yaml": compose}) == []
