"""Reading a repository's compose file as a project: start order, ports, the front service."""

from __future__ import annotations

import pytest

from shared.capabilities.compose_project import (
    ComposeError,
    front_service,
    parse_compose,
    resolve_env_files,
    without_unavailable,
)

VOTING = """\
services:
  worker:
    build: {context: ./worker, dockerfile: Dockerfile.worker}
    depends_on: {redis: {condition: service_healthy}, db: {condition: service_started}}
  vote:
    build: ./vote
    ports: ["8080:80"]
    depends_on: [redis]
    environment: [OPTION_A=Cats, "SECRET=${VOTE_SECRET}", "MODE=${MODE:-demo}"]
  result:
    build: ./result
    ports: [{target: 80, published: 8081}]
    depends_on: [db]
  redis:
    image: redis:7-alpine
  db:
    image: postgres:16
    volumes: [db-data:/var/lib/postgresql/data, ./init:/docker-entrypoint-initdb.d]
volumes:
  db-data: {}
"""


def test_services_start_after_what_they_depend_on() -> None:
    services = parse_compose(VOTING, "deploy/docker-compose.yml")
    order = [s.name for s in services]
    assert order.index("redis") < order.index("worker") and order.index("db") < order.index(
        "worker"
    )
    assert order.index("db") < order.index("result") and len(order) == 5
    worker = services[order.index("worker")]
    assert (worker.build_context, worker.dockerfile) == ("deploy/worker", "Dockerfile.worker")
    db = services[order.index("db")]
    assert db.image == "postgres:16" and db.volumes == {"db-data": "/var/lib/postgresql/data"}


def test_environment_interpolates_defaults_and_never_the_host_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOTE_SECRET", "from-the-host")
    vote = next(s for s in parse_compose(VOTING, "docker-compose.yml") if s.name == "vote")
    assert vote.environment == {"OPTION_A": "Cats", "SECRET": "", "MODE": "demo"}


def test_front_is_the_service_on_the_web_port_not_the_results_page() -> None:
    front = front_service(parse_compose(VOTING, "docker-compose.yml"))
    assert (front.name, front.container_ports, front.published) == ("vote", [80], {80: 8080})


def test_a_front_like_name_wins_over_an_earlier_port() -> None:
    text = (
        "services:\n  admin:\n    image: adminer\n    ports: ['8080:8080']\n"
        "  web:\n    build: .\n    ports: ['5000:5000']\n"
    )
    assert front_service(parse_compose(text, "compose.yaml")).name == "web"


def test_a_project_that_publishes_nothing_is_refused_with_a_reason() -> None:
    with pytest.raises(ComposeError, match="no service publishes a port"):
        front_service(parse_compose("services:\n  w:\n    build: .\n", "compose.yaml"))
    with pytest.raises(ComposeError, match="neither build nor image"):
        parse_compose("services:\n  w:\n    command: x\n", "compose.yaml")


ENV_FILES = """\
services:
  web:
    build: ./services/web
    ports: ["5001:5000"]
    env_file:
      - ./.env.dev
    environment:
      - APP_MODE=compose
  db:
    image: postgres:13
    env_file: .env.db
"""


def test_uncommitted_env_file_falls_back_to_its_committed_sample() -> None:
    # The repository commits .env.dev-sample and tells users to copy it to .env.dev; the
    # service must not start without those values (it waited on a database it never named).
    files = {
        ".env.dev-sample": "# copy me\nexport DATABASE_URL=postgresql://u:p@db:5432/app\n"
        "SQL_HOST='db'\nAPP_MODE=from-file\n",
    }
    services = parse_compose(ENV_FILES, "docker-compose.yml")
    notes = resolve_env_files(services, files.get)
    web = next(s for s in services if s.name == "web")
    assert web.environment == {
        "DATABASE_URL": "postgresql://u:p@db:5432/app",
        "SQL_HOST": "db",
        "APP_MODE": "compose",  # environment: wins over the file, as in compose
    }
    assert (
        "service web: env_file .env.dev is not in the repository; "
        "using its committed sample .env.dev-sample"
    ) in notes
    # No file and no sample: said, and the service starts with what it has.
    assert any(
        n.startswith("service db: env_file .env.db is not in the repository and") for n in notes
    )


def test_committed_env_file_is_read_as_is() -> None:
    services = parse_compose(ENV_FILES, "deploy/docker-compose.yml")
    files = {"deploy/.env.dev": "A=1\n", "deploy/.env.dev-sample": "A=2\n", "deploy/.env.db": ""}
    assert resolve_env_files(services, files.get) == []
    assert next(s for s in services if s.name == "web").environment["A"] == "1"


# --- a project as a template repository ships it: .env interpolation, images not here ----

TEMPLATE = """\
services:
  proxy:
    image: traefik:3.6
    ports: ["80:80"]
  db:
    image: postgres:18
    environment:
      - POSTGRES_PASSWORD=${POSTGRES_PASSWORD:?Variable not set}
  adminer:
    image: adminer
    depends_on: [db]
    ports: ["8080:8080"]
  backend:
    build: {context: ., dockerfile: backend/Dockerfile}
    depends_on: {db: {condition: service_healthy}}
    ports: ["8000:8000"]
    environment:
      PROJECT_NAME: ${PROJECT_NAME:?Variable not set}
      SMTP_HOST: ${SMTP_HOST}
      SMTP_USER: ${SMTP_USER:-}
      DATABASE_URL: postgresql://postgres:${POSTGRES_PASSWORD:?Variable not set}@db:5432/app
      PRICE: $$5
"""
DOTENV = {"PROJECT_NAME": "Full Stack", "POSTGRES_PASSWORD": "changethis", "SMTP_HOST": ""}


def test_variables_come_from_the_projects_env_file() -> None:
    services = {s.name: s for s in parse_compose(TEMPLATE, "compose.yml", DOTENV)}
    assert services["backend"].environment == {
        "PROJECT_NAME": "Full Stack",
        "SMTP_HOST": "",
        "SMTP_USER": "",
        "DATABASE_URL": "postgresql://postgres:changethis@db:5432/app",
        "PRICE": "$5",
    }
    assert services["db"].environment == {"POSTGRES_PASSWORD": "changethis"}


def test_a_required_variable_the_env_file_lacks_is_named() -> None:
    with pytest.raises(
        ComposeError, match=r"variable PROJECT_NAME is required \(Variable not set\)"
    ):
        parse_compose(TEMPLATE, "compose.yml", {"POSTGRES_PASSWORD": "x"})


def test_services_whose_image_is_missing_are_left_out_when_nothing_needs_them() -> None:
    services = parse_compose(TEMPLATE, "compose.yml", DOTENV)
    kept, notes = without_unavailable(services, {"proxy": "traefik:3.6", "adminer": "adminer"})
    assert [s.name for s in kept] == ["db", "backend"]
    assert front_service(kept).name == "backend"
    assert notes == [
        "compose service proxy left out: its image traefik:3.6 is not on this Docker engine "
        "and cannot be pulled here, and no service that starts depends on it",
        "compose service adminer left out: its image adminer is not on this Docker engine "
        "and cannot be pulled here, and no service that starts depends on it",
    ]


def test_a_missing_image_something_depends_on_fails_naming_image_and_dependants() -> None:
    services = parse_compose(TEMPLATE, "compose.yml", DOTENV)
    with pytest.raises(ComposeError) as caught:
        without_unavailable(services, {"db": "postgres:18", "proxy": "traefik:3.6"})
    message = str(caught.value)
    assert message.startswith("compose service db needs image postgres:18")
    assert "adminer, backend depend on it" in message and "proxy" not in message
