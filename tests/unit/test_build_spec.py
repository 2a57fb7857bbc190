"""The provisioner reads the app's build and port from the generated compose file."""

from __future__ import annotations

from services.provisioner.handlers import build_spec

COMPOSE = """
services:
  db:
    image: postgres:16
  app:
    build: {context: app, dockerfile: Dockerfile}
    ports: ["${HOST_PORT:-8080}:5000"]
"""


def test_build_spec_reads_context_dockerfile_and_container_port() -> None:
    assert build_spec({"compose.yaml": COMPOSE}, 80) == ("app", "Dockerfile", 5000)


def test_build_spec_falls_back_to_the_analysed_port() -> None:
    assert build_spec({}, 3000) == (".", "Dockerfile", 3000)


def test_build_spec_takes_the_build_of_the_repository_compose_it_layers_on() -> None:
    # The generated file only publishes and configures the repository's service; its build
    # (context . and a Dockerfile one folder down) is in the repository's compose file.
    override = 'services:\n  backend:\n    ports: ["${HOST_PORT:-8080}:8000"]\n'
    repo = (
        "services:\n  db:\n    image: postgres:17\n"
        "  backend:\n    image: backend:latest\n"
        "    build: {context: ., dockerfile: backend/Dockerfile}\n"
    )
    files = {"compose.autodeploy.yaml": override}
    assert build_spec(files, 80, base_compose=repo) == (".", "backend/Dockerfile", 8000)
