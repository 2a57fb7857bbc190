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
