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
