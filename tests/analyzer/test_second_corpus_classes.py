"""Classes of mistakes the second real corpus (tests/corpus/more-repos.tsv) showed, each on
a fixture of our own."""

from __future__ import annotations

from pathlib import Path

from services.analyzer.detect import analyze_repository
from shared.analysis import Analysis

from .fixtures import build, by_name, write_files


def analyse(name: str, tmp_path: Path, *, overwrite: dict[str, str] | None = None) -> Analysis:
    root = build(by_name(name), tmp_path)
    if overwrite:
        write_files(root, dict(overwrite))
    return analyze_repository(root, description="deploy it")


def where(ev: object) -> tuple[str, int | None]:
    return (ev.file, ev.line)  # type: ignore[attr-defined]


def test_a_gunicorn_config_file_named_by_the_command_gives_port_and_bind(tmp_path: Path) -> None:
    a = analyse("flask_gunicorn_config_file", tmp_path)
    assert a.port is not None and a.port.value == 8200
    assert where(a.port.evidence[0]) == ("deploy/gunicorn_settings.py", 3)
    assert (a.bind_address, a.binds_loopback) == ("0.0.0.0", False)
    assert any("loads deploy/gunicorn_settings.py" in r and "Procfile:1" in r for r in a.reasons)


def test_gunicorn_loads_gunicorn_conf_py_without_a_flag(tmp_path: Path) -> None:
    a = analyse("django_default_gunicorn_conf", tmp_path)
    # `[::]` in the file: every interface, not the bare command's 127.0.0.1.
    assert (a.bind_address, a.binds_loopback) == ("0.0.0.0", False)
    assert a.port is not None and a.port.value == 8210


def test_a_bind_on_the_command_line_beats_the_config_file(tmp_path: Path) -> None:
    a = analyse(
        "flask_gunicorn_config_file",
        tmp_path,
        overwrite={
            "Procfile": "web: gunicorn -b 127.0.0.1:9000 -c deploy/gunicorn_settings.py shop:app\n"
        },
    )
    assert a.port is not None and a.port.value == 9000
    assert a.binds_loopback
    assert not any("gunicorn_settings.py" in r for r in a.reasons)


def test_render_blueprint_names_the_web_service_start_and_build(tmp_path: Path) -> None:
    a = analyse("flask_render_blueprint", tmp_path)
    assert a.start_command == "gunicorn shop:app"  # the web service's, not the worker's
    assert any("start command from render.yaml" in r and "render.yaml:11" in r for r in a.reasons)
    assert a.build_command == "pip install -r requirements.txt"
    assert "build command from render.yaml:10" in a.reasons


def test_render_blueprint_of_another_folder_or_a_static_site_names_no_command(
    tmp_path: Path,
) -> None:
    a = analyse(
        "flask_render_blueprint",
        tmp_path,
        overwrite={
            "render.yaml": """
            services:
              - type: web
                name: api
                rootDir: api
                startCommand: uvicorn api:app
              - type: web
                name: docs
                runtime: static
                startCommand: echo never
        """
        },
    )
    assert not any("render.yaml" in r for r in a.reasons)
    assert a.start_command is not None and "render" not in a.start_command
    assert a.start_command.startswith("gunicorn shop:app")


def test_digitalocean_app_spec_names_the_run_and_build_commands(tmp_path: Path) -> None:
    a = analyse("django_do_app_spec", tmp_path)
    assert a.start_command == "gunicorn --bind 0.0.0.0:8300 mysite.wsgi"
    assert any(".do/app.yaml:6" in r and "start command" in r for r in a.reasons)
    assert a.build_command == "python manage.py collectstatic --noinput"
    assert a.port is not None and where(a.port.evidence[0]) == (".do/app.yaml", 6)


def test_static_builds_name_their_framework_and_output_folder(tmp_path: Path) -> None:
    found = {
        name: analyse(name, tmp_path / name)
        for name in ("vue_cli_spa", "svelte_rollup_spa", "astro_static_site")
    }
    assert {n: (a.framework, a.static_dir, a.build_command) for n, a in found.items()} == {
        "vue_cli_spa": ("vue", "site", "npm run build"),
        "svelte_rollup_spa": ("svelte", "public", "npm run build"),
        "astro_static_site": ("astro", "dist", "npm run build"),
    }


def test_an_astro_app_with_a_server_adapter_is_not_called_a_static_site(tmp_path: Path) -> None:
    a = analyse(
        "astro_static_site",
        tmp_path,
        overwrite={
            "package.json": (
                '{"name": "app", "scripts": {"build": "astro build"}, '
                '"dependencies": {"astro": "^4.5.0", "@astrojs/node": "^8.2.0", '
                '"@astrojs/svelte": "^5.2.0", "svelte": "^4.2.0"}}\n'
            )
        },
    )
    # nor its Svelte islands a Svelte SPA: it is the adapter's Node server (issue 20's
    # remaining imperfection, test_second_corpus_imperfections.py)
    assert a.framework == "astro" and a.static_dir is None
    assert a.start_command == "node ./dist/server/entry.mjs"


def test_warp_ipv6_array_address_gives_the_port_and_its_interface(tmp_path: Path) -> None:
    a = analyse("warp_ipv6_array", tmp_path)
    assert a.port is not None and where(a.port.evidence[0]) == ("src/main.rs", 7)
    loop = analyse(
        "warp_ipv6_array",
        tmp_path / "loopback",
        overwrite={
            "src/main.rs": """
            #[tokio::main]
            async fn main() {
                warp::serve(warp::any().map(|| "hi")).run(([0, 0, 0, 0, 0, 0, 0, 1], 8281)).await;
            }
        """
        },
    )
    assert loop.port is not None and loop.port.value == 8281
    assert loop.binds_loopback


def test_a_slim_app_is_named_with_its_composer_evidence(tmp_path: Path) -> None:
    a = analyse("slim_web_docroot", tmp_path)
    assert a.framework == "slim"
    assert "slim/slim is required in composer.json" in a.reasons


def test_dockerfile_evidence_names_physical_lines_after_continuations(tmp_path: Path) -> None:
    a = analyse("flask_dockerfile_continuations", tmp_path)
    assert a.port is not None and where(a.port.evidence[0]) == ("Dockerfile", 8)
    assert any("start command from the existing Dockerfile (Dockerfile:9)" in r for r in a.reasons)


def test_indirect_go_modules_are_no_backing_services(tmp_path: Path) -> None:
    a = analyse("gin_indirect_mongo", tmp_path)
    assert [(s.kind, where(s.evidence[0])) for s in a.services] == [("redis", ("go.mod", 7))]


def test_a_puma_bind_gated_on_rails_env_sets_it(tmp_path: Path) -> None:
    a = analyse("rails_puma_env_gated_host", tmp_path)
    assert (a.bind_address, a.binds_loopback) == ("0.0.0.0", False)
    assert a.description.env.get("RAILS_ENV") == "production"
    assert any("config/puma.rb:2" in r and "RAILS_ENV=production" in r for r in a.reasons)


def test_a_gunicorn_config_outside_the_repository_is_never_read(tmp_path: Path) -> None:
    for outside in ("/etc/gunicorn.conf.py", "../../gunicorn.conf.py"):
        a = analyse(
            "flask_gunicorn_config_file",
            tmp_path / str(len(outside)),
            overwrite={"Procfile": f"web: gunicorn -c {outside} shop:app\n"},
        )
        assert not any("loads" in r and "gunicorn" in r for r in a.reasons)
        assert a.port is not None and a.port.source == "framework-default"
