"""Classes of mistakes real repositories showed, each on a fixture of our own."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.detect import analyze_repository
from shared.analysis import Analysis

from .fixtures import build, by_name


def analyse(name: str, tmp_path: Path) -> Analysis:
    return analyze_repository(build(by_name(name), tmp_path), description="deploy it")


def test_phoenix_reads_port_from_a_system_tuple_and_ignores_the_public_url(
    tmp_path: Path,
) -> None:
    a = analyse("phoenix_public_url_port", tmp_path)
    port_var = next(v for v in a.env_vars if v.name == "PORT")
    assert port_var.evidence[0].file == "config/prod.exs" and port_var.evidence[0].line == 5
    assert a.port is not None and a.port.value == 4000
    assert not any("443" in c for c in a.conflicts)


def test_a_start_command_that_passes_port_means_the_app_reads_port(tmp_path: Path) -> None:
    a = analyse("flask_procfile_env_port", tmp_path)
    port_var = next(v for v in a.env_vars if v.name == "PORT")
    assert (port_var.evidence[0].file, port_var.evidence[0].line) == ("Procfile", 1)
    assert any(r.startswith("port 8000") and "gunicorn" in r for r in a.reasons)


def test_rocket_port_names_its_line_in_rocket_toml(tmp_path: Path) -> None:
    a = analyse("rocket_toml_and_test_numbers", tmp_path)
    assert a.port is not None
    ev = a.port.evidence[0]
    assert (ev.file, ev.line, a.port.value) == ("Rocket.toml", 6, 8300)
    assert not any(e.file.endswith("tests.rs") for e in a.port.evidence)


@pytest.mark.parametrize(
    ("name", "variable", "value", "where"),
    [
        ("express_platform_gated_host", "FLY_APP_NAME", "1", ("index.js", 4)),
        ("flask_env_gated_host", "APP_ENV", "production", ("app.py", 7)),
    ],
)
def test_a_bind_gated_on_a_variable_sets_that_variable(
    tmp_path: Path, name: str, variable: str, value: str, where: tuple[str, int]
) -> None:
    a = analyse(name, tmp_path)
    assert (a.bind_address, a.binds_loopback) == ("0.0.0.0", False)
    var = next(v for v in a.env_vars if v.name == variable)
    assert var.default == value and not var.required
    assert (var.evidence[0].file, var.evidence[0].line) == where
    assert any(variable in r and f"{where[0]}:{where[1]}" in r for r in a.reasons)


def test_settings_reading_libpq_variables_need_postgres_with_evidence(tmp_path: Path) -> None:
    a = analyse("django_libpq_env", tmp_path)
    pg = next(s for s in a.services if s.kind == "postgres")
    assert pg.evidence
    names = {v.name for v in a.env_vars}
    assert {"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"} <= names


@pytest.mark.parametrize(
    ("name", "start", "where", "port"),
    [
        (
            "flask_railway_json_start",
            "gunicorn --bind 0.0.0.0:$PORT main:app",
            ("railway.json", 8),
            8000,
        ),
        ("node_railway_toml_start", "node dist/server.js", ("railway.toml", 6), 3000),
        (
            "flask_nixpacks_start",
            "waitress-serve --listen=0.0.0.0:$PORT server:app",
            ("nixpacks.toml", 5),
            8080,
        ),
    ],
)
def test_platform_config_names_the_start_command_with_its_line(
    tmp_path: Path, name: str, start: str, where: tuple[str, int], port: int
) -> None:
    a = analyse(name, tmp_path)
    assert a.start_command == start
    assert any(f"{where[0]}:{where[1]}" in r and "start command" in r for r in a.reasons)
    assert a.port is not None and a.port.value == port
    if "$PORT" in start:  # the $PORT rule the Procfile path applies: the app reads PORT
        port_var = next(v for v in a.env_vars if v.name == "PORT")
        assert (port_var.evidence[0].file, port_var.evidence[0].line) == where


def test_railway_build_command_is_the_build_step(tmp_path: Path) -> None:
    a = analyse("node_railway_toml_start", tmp_path)
    assert a.build_command == "npm run bundle"
