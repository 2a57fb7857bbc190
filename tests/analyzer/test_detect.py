"""Unit tests for the analyzer's individual decisions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.analyzer.detect import analyze_repository, choose_target, parse_description
from shared.analysis import AUTO_CLOUD_TARGETS, Analysis, BackingService

from .fixtures import build, by_name, write_files

FLASK = "from flask import Flask\napp = Flask(__name__)\n"
GO_MAIN = (
    'package main\nimport (\n"net/http"\n"os"\n)\nfunc main() {{\n{}\n'
    'http.ListenAndServe(":8080", nil)\n}}\n'
)


def analyse(root: Path, description: str = "deploy it", **kw: object) -> Analysis:
    return analyze_repository(root, description=description, **kw)  # type: ignore[arg-type]


# --- port priority ------------------------------------------------------------------------


def test_port_description_beats_everything(tmp_path: Path) -> None:
    root = build(by_name("dockerfile_flask"), tmp_path)
    a = analyse(root, "run it on port 9999")
    assert a.port is not None and (a.port.value, a.port.source) == (9999, "description")
    assert any("9999" in c and "8080" in c for c in a.conflicts)


def test_port_expose_beats_code(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": FLASK
            + "if __name__ == '__main__':\n    app.run(host='0.0.0.0', port=5001)\n",
            "Dockerfile": "FROM python:3.12\nEXPOSE 7000\nCMD python app.py\n",
        },
    )
    a = analyse(tmp_path)
    assert a.port is not None and (a.port.value, a.port.source) == (7000, "dockerfile")
    assert a.port.evidence[0].file == "Dockerfile" and a.port.evidence[0].line == 2


def test_port_code_beats_procfile_beats_default(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "flask\ngunicorn\n",
            "app.py": FLASK,
            "Procfile": "web: gunicorn app:app --bind 0.0.0.0:6000\n",
        },
    )
    a = analyse(tmp_path)
    assert a.port is not None and (a.port.value, a.port.source) == (6000, "procfile")
    (tmp_path / "app.py").write_text(FLASK + "import os\nPORT = int(os.getenv('PORT', '5555'))\n")
    a = analyse(tmp_path)
    assert a.port is not None and (a.port.value, a.port.source) == (5555, "code")


def test_port_compose_maps_container_side(tmp_path: Path) -> None:
    root = build(by_name("compose_express"), tmp_path)
    a = analyse(root)
    assert a.port is not None and (a.port.value, a.port.source) == (3000, "compose")
    assert a.docker is not None and a.docker.compose_ports == [3000]
    assert set(a.docker.compose_services) == {"web", "db", "cache"}


def test_port_from_start_script_flag(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "package.json": (
                '{"scripts": {"start": "next start -p 4100"}, "dependencies": {"next": "14"}}'
            ),
        },
    )
    a = analyse(tmp_path)
    assert a.port is not None and (a.port.value, a.port.source) == (4100, "cli")


def test_spring_properties_port(tmp_path: Path) -> None:
    root = build(by_name("spring_maven"), tmp_path)
    a = analyse(root)
    assert a.port is not None and a.port.value == 8081
    assert a.port.evidence[0].file == "src/main/resources/application.properties"
    assert a.runtime_version == "21"


# --- bind address -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "bind", "loopback"),
    [
        ("app.run(host='127.0.0.1', port=5000)", "127.0.0.1", True),
        ("app.run(host='localhost')", "127.0.0.1", True),
        ("app.run()", "127.0.0.1", True),  # Flask's own default
        ("app.run(host='0.0.0.0')", "0.0.0.0", False),
        ("app.run(host=os.environ.get('HOST', '0.0.0.0'), port=8000)", "0.0.0.0", False),
    ],
)
def test_flask_bind(tmp_path: Path, code: str, bind: str, loopback: bool) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": "import os\n" + FLASK + f"if __name__ == '__main__':\n    {code}\n",
        },
    )
    a = analyse(tmp_path)
    assert (a.bind_address, a.binds_loopback) == (bind, loopback)
    if loopback:
        assert any("must be made to bind 0.0.0.0" in r and "app.py:" in r for r in a.reasons)


def test_bare_uvicorn_in_procfile_is_loopback(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "fastapi\nuvicorn\n",
            "main.py": "from fastapi import FastAPI\napp = FastAPI()\n",
            "Procfile": "web: uvicorn main:app --port 8000\n",
        },
    )
    a = analyse(tmp_path)
    assert a.binds_loopback and a.bind_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("listen", "bind"),
    [
        ("app.listen(3000, 'localhost')", "127.0.0.1"),
        ("app.listen(3000, '0.0.0.0')", "0.0.0.0"),
        ("app.listen(3000)", None),
    ],
)
def test_node_bind(tmp_path: Path, listen: str, bind: str | None) -> None:
    write_files(
        tmp_path,
        {
            "package.json": '{"dependencies": {"express": "4"}}',
            "server.js": f"const app = require('express')();\n{listen};\n",
        },
    )
    a = analyse(tmp_path)
    assert a.bind_address == bind
    assert a.start_command == "node server.js"


# --- env vars, secrets --------------------------------------------------------------------


def test_python_env_vars(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": FLASK
            + (
                "import os\n"
                "A = os.environ['REQUIRED_ONE']\n"
                "B = os.getenv('WITH_DEFAULT', 'd')\n"
                "C = os.environ.get('NO_DEFAULT')\n"
                "D = os.getenv('DB_PASSWORD', 'hunter2')\n"
                "E = os.getenv('DATABASE_URL', 'postgres://u:p@db/app')\n"
                "F = os.environ.get('WORKERS', 4)\n"
            ),
            ".env.example": "STRIPE_SECRET=\nLOG_LEVEL=info\n",
        },
    )
    env = {v.name: v for v in analyse(tmp_path).env_vars}
    assert env["REQUIRED_ONE"].required and env["REQUIRED_ONE"].default is None
    assert not env["WITH_DEFAULT"].required and env["WITH_DEFAULT"].default == "d"
    assert env["NO_DEFAULT"].required
    assert env["WORKERS"].default == "4"
    assert env["DB_PASSWORD"].secret and env["DB_PASSWORD"].default is None  # never copied
    assert env["DATABASE_URL"].secret
    assert env["STRIPE_SECRET"].secret and env["STRIPE_SECRET"].required
    assert env["LOG_LEVEL"].default == "info" and not env["LOG_LEVEL"].secret
    assert env["REQUIRED_ONE"].evidence[0].file == "app.py"
    assert env["REQUIRED_ONE"].evidence[0].line == 4


@pytest.mark.parametrize(
    ("files", "name", "default", "required"),
    [
        (
            {
                "go.mod": "module x\n\ngo 1.22\n",
                "main.go": GO_MAIN.format(
                    'p := os.Getenv("PORT")\nif p == "" { p = "8080" }\nq := os.Getenv("QUEUE")'
                ),
            },
            "PORT",
            "8080",
            False,
        ),
        (
            {
                "go.mod": "module x\n\ngo 1.22\n",
                "main.go": GO_MAIN.format('q := os.Getenv("QUEUE")'),
            },
            "QUEUE",
            None,
            True,
        ),
        (
            {
                "Gemfile": "gem 'sinatra'\n",
                "app.rb": "x = ENV.fetch('COLOR') { 'red' }\ny = ENV['SIZE']\n",
            },
            "COLOR",
            "red",
            False,
        ),
        ({"Gemfile": "gem 'sinatra'\n", "app.rb": "y = ENV['SIZE']\n"}, "SIZE", None, True),
        (
            {
                "package.json": '{"dependencies": {"express": "4"}}',
                "index.js": (
                    "const t = process.env.TIMEOUT ?? '30';\nrequire('express')().listen(3000)\n"
                ),
            },
            "TIMEOUT",
            "30",
            False,
        ),
        (
            {
                "Cargo.toml": '[package]\nname="a"\n[dependencies]\naxum="0.7"\n',
                "src/main.rs": 'let h = std::env::var("HOST").unwrap_or("0.0.0.0".into());\n',
            },
            "HOST",
            "0.0.0.0",
            False,
        ),
        (
            {
                "pom.xml": "<artifactId>spring-boot-starter-web</artifactId>",
                "src/main/java/A.java": 'String k = System.getenv("GITHUB_TOKEN");\n',
            },
            "GITHUB_TOKEN",
            None,
            True,
        ),
    ],
)
def test_env_across_languages(
    tmp_path: Path, files: dict[str, str], name: str, default: str | None, required: bool
) -> None:
    write_files(tmp_path, files)  # type: ignore[arg-type]
    env = {v.name: v for v in analyse(tmp_path).env_vars}
    assert name in env
    assert (env[name].default, env[name].required) == (default, required)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("API_KEY", True),
        ("SECRET_KEY", True),
        ("GITHUB_TOKEN", True),
        ("DB_PASSWORD", True),
        ("SMTP_PASS", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GOOGLE_CREDENTIALS", True),
        ("PRIVATE_KEY_PEM", True),
        ("SENTRY_DSN", True),
        ("DATABASE_URL", True),
        ("PORT", False),
        ("DEBUG", False),
        ("LOG_LEVEL", False),
        ("KEYBOARD_LAYOUT", False),
        ("TOKENIZER_MODEL", False),
    ],
)
def test_secret_names(tmp_path: Path, name: str, secret: bool) -> None:
    write_files(
        tmp_path,
        {"requirements.txt": "flask\n", "app.py": FLASK + f"import os\nos.getenv('{name}')\n"},
    )
    env = {v.name: v for v in analyse(tmp_path).env_vars}
    assert env[name].secret is secret


def test_url_with_password_is_secret(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": FLASK + "import os\nos.getenv('BROKER', 'amqp://guest:guest@mq:5672/')\n",
        },
    )
    env = {v.name: v for v in analyse(tmp_path).env_vars}
    assert env["BROKER"].secret and env["BROKER"].default is None


# --- backing services ---------------------------------------------------------------------


def test_services_from_drivers_env_and_description(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "fastapi\npymongo\npika\n",
            "main.py": "import os\nfrom fastapi import FastAPI\napp = FastAPI()\n"
            "R = os.getenv('REDIS_URL')\nD = os.getenv('DATABASE_URL', 'mysql://localhost/x')\n",
        },
    )
    a = analyse(tmp_path, "deploy it, it needs a Postgres")
    kinds = {s.kind: s for s in a.services}
    assert set(kinds) == {"mongodb", "rabbitmq", "redis", "mysql", "postgres"}
    assert kinds["mongodb"].evidence[0].file == "requirements.txt"
    assert kinds["postgres"].evidence[0].file == "description"


def test_no_services_for_plain_app(tmp_path: Path) -> None:
    write_files(tmp_path, {"requirements.txt": "flask\n", "app.py": FLASK})
    assert analyse(tmp_path).services == []


# --- monorepo choice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "root"),
    [
        ("deploy the api", "api"),
        ("deploy the web app", "web"),
        ("ship the Next.js site", "web"),
        ("deploy the frontend", "web"),
        ("deploy the docs", "docs"),
        ("deploy the app in the web folder", "web"),
        ("deploy it", "api"),  # a server framework beats a frontend when nothing is said
    ],
)
def test_monorepo_choice(tmp_path: Path, description: str, root: str) -> None:
    repo = build(by_name("monorepo_api"), tmp_path)
    a = analyse(repo, description)
    assert a.app_root == root
    assert {c.root for c in a.candidates} == {"api", "web", "docs"}
    assert any("several apps found" in r for r in a.reasons)


def test_library_with_example_server_is_not_a_service(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "lib"\nversion = "1"\n',
            "src/lib/__init__.py": "X = 1\n",
            "examples/flask_demo/app.py": FLASK,
            "tests/test_app.py": FLASK,
        },
    )
    a = analyse(tmp_path)
    assert a.verdict == "not-a-service"
    assert "library" in a.verdict_reasons[0]


def test_app_in_subfolder_is_found(tmp_path: Path) -> None:
    root = build(by_name("flask_subfolder_loopback"), tmp_path)
    a = analyse(root)
    assert a.app_root == "app"
    assert a.candidates[0].root == "app"
    assert a.port is not None and a.port.evidence[0].file == "app/app.py"


# --- verdict ------------------------------------------------------------------------------


def test_cli_verdict_names_the_file_and_tool(tmp_path: Path) -> None:
    a = analyse(build(by_name("python_cli"), tmp_path))
    assert a.verdict == "not-a-service"
    assert "CLI entry point in cli.py:3 (click)" in a.verdict_reasons[0]
    assert "add a web server" in a.verdict_reasons[0]


def test_web_app_with_worker_and_cli_is_still_a_service(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "flask\ncelery\nclick\n",
            "app.py": FLASK,
            "tasks.py": "from celery import Celery\ncelery = Celery('t')\n",
            "manage_cli.py": "import argparse\nargparse.ArgumentParser()\n",
        },
    )
    assert analyse(tmp_path).verdict == "http-service"


def test_slack_socket_mode_bot_is_not_a_service(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "slack-bolt\n",
            "bot.py": (
                "from slack_bolt.adapter.socket_mode import SocketModeHandler\n"
                "SocketModeHandler(app, 'x').start()\n"
            ),
        },
    )
    a = analyse(tmp_path)
    assert a.verdict == "not-a-service" and "socket mode" in a.verdict_reasons[0]


def test_notebook_verdict_suggests_a_fix(tmp_path: Path) -> None:
    a = analyse(build(by_name("notebook_only"), tmp_path))
    assert "analysis.ipynb" in a.verdict_reasons[0]
    assert "Streamlit" in a.verdict_reasons[0]


# --- target -------------------------------------------------------------------------------


def test_target_description_wins() -> None:
    req = parse_description("deploy to kubernetes")
    assert (
        choose_target(req, services=[], compose_service_count=0, cloud_credentials=False)[0]
        == "kubernetes"
    )


def test_target_without_credentials_is_local() -> None:
    target, why = choose_target(
        parse_description("deploy it"),
        services=[],
        compose_service_count=0,
        cloud_credentials=False,
    )
    assert target == "local" and "no cloud credentials" in why[0]


def test_target_stateless_with_credentials_is_serverless() -> None:
    # Applied end to end since issue 23 (tests/e2e/test_cloud_containers.py).
    target, why = choose_target(
        parse_description("deploy it"), services=[], compose_service_count=1, cloud_credentials=True
    )
    assert target == "aws-serverless" and "stateless container" in why[0]


@pytest.mark.parametrize(
    ("description", "services", "compose_count"),
    [("deploy it", [], 0), ("deploy it", [], 1), ("deploy it", ["postgres"], 0), ("x", [], 3)],
)
def test_with_credentials_no_rule_picks_a_target_that_does_not_apply(
    description: str, services: list[str], compose_count: int
) -> None:
    target, _ = choose_target(
        parse_description(description),
        services=[BackingService(kind=k) for k in services],  # type: ignore[arg-type]
        compose_service_count=compose_count,
        cloud_credentials=True,
    )
    assert target in AUTO_CLOUD_TARGETS


def test_target_stateful_with_credentials_is_ec2() -> None:
    pg = BackingService(kind="postgres")
    target, why = choose_target(
        parse_description("deploy it"),
        services=[pg],
        compose_service_count=0,
        cloud_credentials=True,
    )
    assert target == "aws-ec2" and "postgres" in why[0]
    target, _ = choose_target(
        parse_description("x"), services=[], compose_service_count=3, cloud_credentials=True
    )
    assert target == "aws-ec2"


def test_target_in_analysis(tmp_path: Path) -> None:
    root = build(by_name("compose_express"), tmp_path)
    assert analyse(root, cloud_credentials=True).target == "aws-ec2"
    assert analyse(root).target == "local"
    assert analyse(root, "put it on lambda", cloud_credentials=True).target == "aws-serverless"


# --- the walk: tree, skipped folders, symlinks, binaries ----------------------------------


def test_tree_depth_sorting_and_truncation(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "a/b/c/d/e/deep.txt": "x",
            "a/b/c/top.txt": "x",
            "z.txt": "x",
            "node_modules/express/index.js": "x",
            ".git/config": "x",
        },
    )
    a = analyse(tmp_path)
    assert a.tree == sorted(a.tree)
    assert "a/b/c/d/" in a.tree and "a/b/c/top.txt" in a.tree
    assert not any(p.startswith("a/b/c/d/e") for p in a.tree)
    assert not any(p.startswith(("node_modules", ".git")) for p in a.tree)
    assert a.file_count == 3
    small = analyse(tmp_path, max_tree_entries=2)
    assert small.tree_truncated and len(small.tree) == 2


def test_symlinks_are_never_followed_or_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    write_files(
        outside,
        {
            "secret.env": "OUTSIDE_SECRET=leaked\n",
            "srv/app.py": FLASK + "if __name__ == '__main__':\n    app.run(port=6543)\n",
            "srv/requirements.txt": "flask\n",
        },
    )
    repo = tmp_path / "repo"
    write_files(repo, {"README.md": "hi\n"})
    os.symlink("/etc/passwd", repo / "requirements.txt")
    os.symlink("/etc/passwd", repo / "app.py")
    os.symlink(outside / "secret.env", repo / ".env.example")
    os.symlink(outside / "srv", repo / "srv")
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, flags: int, *args: int) -> int:
        opened.append(os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", spy)
    a = analyse(repo)
    assert a.verdict == "not-a-service"
    assert not any(v.name in ("OUTSIDE_SECRET", "root") for v in a.env_vars)
    assert a.tree == ["README.md"]
    assert all(os.path.realpath(p).startswith(str(repo.resolve())) for p in opened)
    assert not any(
        p.endswith(("passwd", "secret.env", "app.py", "requirements.txt")) for p in opened
    )
    assert any("symlink" in r for r in a.reasons)


def test_binary_and_huge_files_are_not_parsed(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": FLASK,
            "server.py": b"import os\x00\nos.getenv('BINARY_VAR')\n",
            "main.py": "import os\n" + "#" * (300 * 1024) + "\nos.getenv('PAST_THE_CAP')\n",
        },
    )
    names = {v.name for v in analyse(tmp_path).env_vars}
    assert "BINARY_VAR" not in names and "PAST_THE_CAP" not in names


def test_needles_never_hide_a_match(tmp_path: Path) -> None:
    """The substring prefilter may only skip files the pattern cannot match."""
    import re

    from services.analyzer.detect import _common, deno, golang, jvm, node, php, python, ruby, rust

    from .fixtures import CORPUS

    patterns: list[re.Pattern[str]] = []
    for mod in (_common, python, node, golang, ruby, rust, jvm, php, deno):
        for value in vars(mod).values():
            items = value if isinstance(value, list) else [value]
            for item in items:
                parts = item if isinstance(item, tuple) else (item,)
                patterns += [p for p in parts if isinstance(p, re.Pattern)]
    texts: list[str] = []
    for fx in CORPUS:
        if fx.name.startswith("monorepo_") and fx.name != "monorepo_api":
            continue
        root = build(fx, tmp_path)
        texts += [
            p.read_text()
            for p in root.rglob("*")
            if p.is_file() and p.suffix != ".png" and not p.name.endswith("lockb")
        ]
    checked = 0
    for pattern in patterns:
        needles = _common.needle(pattern)
        if needles is None:
            continue
        for text in texts:
            if pattern.search(text):
                checked += 1
                assert any(n in text for n in needles), (pattern.pattern, needles)
    assert checked > 50
