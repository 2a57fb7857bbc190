"""The recipes the second corpus's remaining imperfections change (issue 20): an optional
backing service is neither started nor wired, and an Astro app with @astrojs/node is built
and run as a Node server. Fixtures are the analyzer's own (tests/analyzer/fixtures.py)."""

from __future__ import annotations

from pathlib import Path

from services.analyzer.detect import analyze_repository
from services.generator.bundle import generate_bundle
from tests.analyzer.fixtures import build, by_name


def _bundle(name: str, tmp_path: Path, description: str = "deploy it") -> dict[str, str]:
    analysis = analyze_repository(build(by_name(name), tmp_path), description=description)
    return generate_bundle(analysis, job_id="imperfections-1")


def test_an_optional_service_is_not_started_nor_wired(tmp_path: Path) -> None:
    bundle = _bundle("express_optional_mysql", tmp_path)
    compose = bundle["compose.yaml"]
    assert "\n  mysql:" not in compose and "image: mysql" not in compose
    assert "MYSQL_HOST" not in compose and "DATABASE_URL" not in compose
    assert "mysql is optional (src/store/index.js:2" in bundle["DEPLOY.md"]


def test_the_same_service_asked_for_is_started(tmp_path: Path) -> None:
    bundle = _bundle("express_optional_mysql", tmp_path, description="deploy it with mysql")
    assert "\n  mysql:" in bundle["compose.yaml"]


def test_a_needed_service_beside_an_optional_one_still_starts(tmp_path: Path) -> None:
    compose = _bundle("flask_optional_redis", tmp_path)["compose.yaml"]
    assert "\n  postgres:" in compose
    assert "\n  redis:" not in compose and "REDIS_URL" not in compose


def test_astro_with_the_node_adapter_builds_and_runs_its_server(tmp_path: Path) -> None:
    dockerfile = _bundle("astro_node_adapter", tmp_path)["Dockerfile"]
    assert "AS build" in dockerfile
    assert "astro build" in dockerfile or "run build" in dockerfile
    assert "node ./dist/server/entry.mjs" in dockerfile
    assert "HOST=0.0.0.0" in dockerfile and "PORT=4321" in dockerfile
    assert "nginx" not in dockerfile  # not the static-site recipe
