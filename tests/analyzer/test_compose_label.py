"""A repository organised around its compose file is the compose project, stack `compose`."""

from __future__ import annotations

from pathlib import Path

from services.analyzer.detect import analyze_repository

from .fixtures import write_files

FLASK = "from flask import Flask\napp = Flask(__name__)\napp.run(host='0.0.0.0', port=5000)\n"


def test_app_below_the_compose_file_with_a_database_is_the_compose_project(
    tmp_path: Path,
) -> None:
    write_files(
        tmp_path,
        {
            "docker-compose.yml": """
            services:
              web:
                build: ./services/web
                ports: ["5001:5000"]
              db:
                image: postgres:16
            """,
            "services/web/app.py": FLASK,
            "services/web/requirements.txt": "flask\n",
            "services/web/Dockerfile": "FROM python:3.12-slim\nCMD python app.py\n",
        },
    )
    analysis = analyze_repository(tmp_path, description="deploy it")
    assert (analysis.verdict, analysis.framework, analysis.app_root) == (
        "http-service",
        "compose",
        ".",
    )
    assert any("deploys as that compose project" in reason for reason in analysis.reasons)


def test_several_services_built_here_make_a_compose_project(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "compose.yaml": """
            services:
              vote:
                build: ./vote
                ports: ["8080:80"]
              worker:
                build: ./worker
            """,
            "vote/app.py": FLASK,
            "vote/requirements.txt": "flask\n",
            "worker/worker.py": "import time\nwhile True:\n    time.sleep(1)\n",
        },
    )
    assert analyze_repository(tmp_path, description="deploy it").framework == "compose"


def test_ports_published_only_in_the_override_file_count_as_compose_reads_them(
    tmp_path: Path,
) -> None:
    # `docker compose up` merges compose.override.yml over compose.yml: a base file that
    # only describes services and an override that publishes them is one project.
    write_files(
        tmp_path,
        {
            "compose.yml": """
            services:
              db:
                image: postgres:16
              api:
                build: ./api
                environment:
                  DATABASE_URL: postgres://app@db/app
              front:
                build: ./front
            """,
            "compose.override.yml": """
            services:
              api:
                ports:
                  - "8000:8000"
              front:
                ports:
                  - "5173:80"
            """,
            "api/app.py": FLASK,
            "api/requirements.txt": "flask\n",
            "front/index.html": "<h1>hi</h1>\n",
            "front/Dockerfile": "FROM nginx:1.22\nCOPY index.html /usr/share/nginx/html/\n",
        },
    )
    analysis = analyze_repository(tmp_path, description="deploy it")
    assert (analysis.verdict, analysis.framework, analysis.app_root) == (
        "http-service",
        "compose",
        ".",
    )
    assert analysis.port is not None and analysis.port.value == 8000
    assert (analysis.port.evidence[0].file, analysis.port.evidence[0].line) == (
        "compose.override.yml",
        2,
    )
    assert any("compose.override.yml merged over compose.yml" in r for r in analysis.reasons)


def test_services_behind_a_profile_do_not_make_a_project(tmp_path: Path) -> None:
    # Only `web` starts with `docker compose up`; the `tools` profile's service does not,
    # so this is the Flask app beside its compose file, not a compose project.
    write_files(
        tmp_path,
        {
            "docker-compose.yml": """
            services:
              web:
                build: .
                ports: ["5000:5000"]
              e2e:
                build: ./e2e
                profiles: [tools]
            """,
            "app.py": FLASK,
            "requirements.txt": "flask\n",
            "e2e/run.py": "print('tests')\n",
        },
    )
    analysis = analyze_repository(tmp_path, description="deploy it")
    assert analysis.framework == "flask"
    assert "e2e" not in (analysis.docker.compose_services if analysis.docker else [])
