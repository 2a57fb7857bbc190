"""Generator classes the third, held-out real corpus showed, on analyses of our own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.analyzer.detect import analyze_repository
from services.generator.bundle import generate_bundle
from services.provisioner.handlers import build_spec
from shared.analysis import ExistingDocker
from tests.generator.stacks import make_analysis


@pytest.mark.parametrize(
    ("language", "framework", "tree"),
    [
        ("html", None, ["Dockerfile", "index.html", "logo.png"]),
        ("node", "vue", ["Dockerfile", "index.html", "package.json", "src/main.js"]),
    ],
)
def test_the_repositorys_own_dockerfile_is_reached_on_the_port_it_exposes(
    language: str, framework: str | None, tree: list[str]
) -> None:
    # Their own `FROM nginx` serves on 80; the generated static recipe would listen on
    # 8080 (nginx unprivileged). Building their Dockerfile on the recipe's port meant
    # nothing answered where the health check knocked.
    analysis = make_analysis(
        language,
        framework,
        tree,
        port=80,
        docker=ExistingDocker(dockerfile="Dockerfile", exposed_ports=[80, 443]),
    )
    bundle = generate_bundle(analysis, job_id="job-7")
    service = yaml.safe_load(bundle["compose.yaml"])["services"]["app"]
    assert service["build"]["dockerfile"] == "Dockerfile"
    assert service["ports"] == ["${HOST_PORT:-8080}:80"]
    assert service["environment"]["PORT"] == "80"
    assert build_spec(bundle, 8080)[1:] == ("Dockerfile", 80)


def test_a_flask_app_that_runs_itself_is_served_by_its_own_name(tmp_path: Path) -> None:
    # `python bot.py` starts it; the generated recipe serves Flask with gunicorn, which
    # must load `bot:app_flask`, not a guessed `bot:app` ("App failed to load").
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "bot.py").write_text(
        "from flask import Flask\n"
        "app_flask = Flask(__name__)\n\n"
        "@app_flask.route('/')\ndef home():\n    return 'up'\n\n"
        "if __name__ == '__main__':\n    app_flask.run(host='0.0.0.0', port=9000)\n"
    )
    analysis = analyze_repository(tmp_path, description="deploy it")
    assert analysis.app_object == "bot:app_flask"
    bundle = generate_bundle(analysis, job_id="job-8")
    assert "gunicorn" in bundle["Dockerfile"] and "bot:app_flask" in bundle["Dockerfile"]


def test_a_fastapi_object_named_api_is_what_uvicorn_loads(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("fastapi\nuvicorn\n")
    (tmp_path / "main.py").write_text(
        "import uvicorn\nfrom fastapi import FastAPI\n\napi = FastAPI()\n\n"
        "if __name__ == '__main__':\n    uvicorn.run(api, host='0.0.0.0', port=8010)\n"
    )
    analysis = analyze_repository(tmp_path, description="deploy it")
    bundle = generate_bundle(analysis, job_id="job-9")
    assert "main:api" in bundle["Dockerfile"], bundle["Dockerfile"][-400:]
