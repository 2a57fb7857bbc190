"""What the second real corpus still showed once its rows scored right (issue 20), each on a
fixture of our own: optional backing services, gunicorn over a `__main__` dev server,
`Dockerfile.<suffix>` files and Astro's Node adapter."""

from __future__ import annotations

from pathlib import Path

from services.analyzer.detect import analyze_repository
from shared.analysis import Analysis, BackingService

from .fixtures import build, by_name, write_files


def analyse(
    name: str, tmp_path: Path, *, overwrite: dict[str, str] | None = None, description: str = ""
) -> Analysis:
    root = build(by_name(name), tmp_path)
    if overwrite:
        write_files(root, dict(overwrite))
    return analyze_repository(root, description=description or "deploy it")


def service(a: Analysis, kind: str) -> BackingService:
    return next(s for s in a.services if s.kind == kind)


def test_a_service_used_only_when_its_variable_is_set_is_optional(tmp_path: Path) -> None:
    a = analyse("express_optional_mysql", tmp_path)
    mysql = service(a, "mysql")
    assert mysql.optional
    assert mysql.condition is not None
    assert (mysql.condition.file, mysql.condition.line) == ("src/store/index.js", 2)
    assert any("mysql is optional" in r and "MYSQL_HOST" in r for r in a.reasons)
    assert not any(r.startswith("needs ") and "mysql" in r for r in a.reasons)
    # Its credentials are not demanded either: the app runs without them.
    assert all(not v.required for v in a.env_vars if v.name.startswith("MYSQL_"))


def test_only_the_presence_tested_service_is_optional(tmp_path: Path) -> None:
    a = analyse("flask_optional_redis", tmp_path)
    redis = service(a, "redis")
    assert redis.optional and redis.condition is not None
    assert (redis.condition.file, redis.condition.line) == ("shop.py", 9)
    assert not service(a, "postgres").optional


def test_a_negated_test_keeps_the_service_needed(tmp_path: Path) -> None:
    a = analyse(
        "express_optional_mysql",
        tmp_path,
        overwrite={
            "src/store/index.js": (
                "if (!process.env.MYSQL_HOST) throw new Error('set MYSQL_HOST');\n"
                "module.exports = require('./mysql');\n"
            )
        },
    )
    assert not service(a, "mysql").optional


def test_a_service_the_description_asks_for_stays_needed(tmp_path: Path) -> None:
    a = analyse("express_optional_mysql", tmp_path, description="deploy it with mysql")
    assert not service(a, "mysql").optional


def test_a_service_the_compose_file_runs_stays_needed(tmp_path: Path) -> None:
    a = analyse(
        "flask_optional_redis",
        tmp_path,
        overwrite={
            "compose.yaml": "services:\n  web:\n    build: .\n  cache:\n    image: redis:7\n"
        },
    )
    assert not service(a, "redis").optional


def test_gunicorn_in_the_requirements_beats_the_main_block_dev_server(tmp_path: Path) -> None:
    a = analyse("flask_main_block_with_gunicorn", tmp_path)
    assert a.start_command is not None and a.start_command.startswith("gunicorn app:app")
    assert (a.bind_address, a.binds_loopback) == ("0.0.0.0", False)
    assert any(
        "served by gunicorn (requirements.txt:2)" in r and "__main__" in r for r in a.reasons
    )


def test_without_gunicorn_the_main_block_still_starts_the_app(tmp_path: Path) -> None:
    a = analyse(
        "flask_main_block_with_gunicorn", tmp_path, overwrite={"requirements.txt": "Flask==3.0.3\n"}
    )
    assert a.start_command == "python app.py"
    assert a.binds_loopback


def test_the_only_linux_dockerfile_variant_is_the_repositorys_dockerfile(tmp_path: Path) -> None:
    a = analyse("aspnet_dockerfile_linux", tmp_path)
    assert a.docker is not None and a.docker.dockerfile == "Dockerfile.linux"
    assert a.docker.exposed_ports == [8500]
    assert a.port is not None and a.port.evidence[0].file == "Dockerfile.linux"
    assert "Dockerfile.linux is the repository's Dockerfile (the only one)" in a.reasons


def test_two_variants_and_no_compose_file_name_no_dockerfile(tmp_path: Path) -> None:
    a = analyse(
        "aspnet_dockerfile_linux",
        tmp_path,
        overwrite={"Dockerfile.alpine": "FROM mcr.microsoft.com/dotnet/aspnet:8.0\nEXPOSE 7000\n"},
    )
    assert a.docker is None or a.docker.dockerfile is None


def test_the_dockerfile_a_compose_file_names_is_read(tmp_path: Path) -> None:
    a = analyse("flask_compose_names_dockerfile", tmp_path)
    assert a.docker is not None and a.docker.dockerfile == "Dockerfile.prod"
    assert a.port is not None and a.port.value == 8600
    assert "Dockerfile.prod is the repository's Dockerfile (the compose file names it)" in a.reasons


def test_astro_with_the_node_adapter_is_a_node_server(tmp_path: Path) -> None:
    a = analyse("astro_node_adapter", tmp_path)
    assert (a.verdict, a.language, a.framework) == ("http-service", "node", "astro")
    assert a.static_dir is None
    assert a.start_command == "node ./dist/server/entry.mjs"
    assert a.build_command is not None and "build" in a.build_command
    assert a.port is not None and a.port.value == 4321


def test_astro_node_adapter_in_middleware_mode_is_not_a_server_of_its_own(tmp_path: Path) -> None:
    a = analyse(
        "astro_node_adapter",
        tmp_path,
        overwrite={
            "astro.config.mjs": (
                "import node from '@astrojs/node';\n"
                "export default { output: 'server', adapter: node({ mode: 'middleware' }) };\n"
            )
        },
    )
    assert a.start_command != "node ./dist/server/entry.mjs"


def test_a_deployment_starts_only_the_needed_services(tmp_path: Path) -> None:
    # The list the generator's compose file and the provisioner's local deploy start from.
    assert analyse("flask_optional_redis", tmp_path).needed_service_kinds() == ["postgres"]
    assert analyse("express_optional_mysql", tmp_path / "b").needed_service_kinds() == []
