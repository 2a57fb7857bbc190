"""A repository whose own compose file runs several services deploys as that compose project."""

from __future__ import annotations

import docker
import httpx
import pytest

from shared.capabilities.docker_local import job_image_tags
from tests.support.stack import Isolated, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

_SERVICE_DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /srv
COPY . .
CMD ["python", "-u", "main.py"]
"""

# Our own small voting-style project: a front on 8080 that shows what the results page on
# 8081 reads from Redis, a worker that counts into Redis, and Postgres with a named volume.
# Standard library only (Redis spoken in its inline protocol), so nothing is installed.
_REDIS = """\
import socket


def redis(command):
    with socket.create_connection(("cache", 6379), timeout=3) as conn:
        conn.sendall(command.encode() + b"\\r\\n")
        return conn.recv(64).decode().split()[-1].lstrip(":")  # ":5" or "$1 5"
"""

COMPOSE_PROJECT = {
    "docker-compose.yml": """\
services:
  front:
    build: ./front
    ports:
      - "8080:80"
    environment:
      RESULTS_URL: http://results:8081/count
    depends_on: [results]
  results:
    build: ./results
    ports:
      - "8081:8081"
    depends_on: [cache, db]
  worker:
    build: ./worker
    depends_on: [cache]
  cache:
    image: redis:7-alpine
  db:
    image: postgres:16-alpine
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:-example}
    volumes:
      - db-data:/var/lib/postgresql/data
volumes:
  db-data:
""",
    "front/Dockerfile": _SERVICE_DOCKERFILE,
    "front/main.py": """\
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer


class Front(BaseHTTPRequestHandler):
    def do_GET(self):
        with urllib.request.urlopen(os.environ["RESULTS_URL"], timeout=3) as answer:
            count = answer.read().decode()
        body = f"<h1>front: votes counted by the worker = {count}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", 80), Front).serve_forever()
""",
    "results/Dockerfile": _SERVICE_DOCKERFILE,
    "results/main.py": _REDIS
    + """
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer


class Results(BaseHTTPRequestHandler):
    def do_GET(self):
        socket.create_connection(("db", 5432), timeout=3).close()  # Postgres answers too
        body = redis("GET votes").encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", 8081), Results).serve_forever()
""",
    "worker/Dockerfile": _SERVICE_DOCKERFILE,
    "worker/main.py": _REDIS
    + """
import time

while True:
    try:
        redis("INCR votes")
    except OSError as exc:
        print("redis not ready:", exc)
    time.sleep(1)
""",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, git_server):
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("compose"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host, "VERIFY_TIMEOUT_S": "60"},
    ).start()
    yield stack
    stack.stop()
    iso.drop()


def _labelled(job_id: str) -> dict[str, list[str]]:
    client = docker.from_env()
    selector = {"label": f"autodeploy.job_id={job_id}"}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=selector)],
        "images": sorted(job_image_tags(client, job_id)),
        "networks": [n.name for n in client.networks.list(filters=selector)],
        "volumes": [v.name for v in client.volumes.list(filters=selector)],
    }


def test_compose_project_deploys_every_service_and_reports_the_front(stack, git_server) -> None:
    url = git_server.create_repo("compose-voting", COMPOSE_PROJECT)
    job_id = stack.submit(repo_url=url, description="deploy the voting app")
    job = stack.wait_job(job_id, timeout=600)
    last_lines = [line["message"] for line in job["logs"]][-20:]
    assert job["status"] == "completed", (job["error"], last_lines)
    assert job["analysis"]["framework"] == "compose"
    deployment = job["result"]["deployment"]
    assert deployment["front_service"] == "front" and deployment["container_port"] == 80
    assert sorted(deployment["services"]) == ["cache", "db", "front", "results", "worker"]
    answer = httpx.get(job["result"]["url"], timeout=10)
    assert answer.status_code == 200 and "votes counted by the worker = " in answer.text
    assert int(answer.text.rsplit("= ", 1)[1].split("<")[0]) >= 1  # worker -> redis -> results
    labelled = _labelled(job_id)
    assert len(labelled["containers"]) == 5 and labelled["volumes"]

    response = httpx.delete(f"{stack.url}/job/{job_id}")
    assert response.status_code == 202
    job = stack.wait_job(job_id, statuses=("destroyed",), timeout=120)
    assert job["status"] == "destroyed", job["error"]
    assert _labelled(job_id) == {"containers": [], "images": [], "networks": [], "volumes": []}


def test_compose_image_that_is_not_local_fails_naming_it(stack, git_server) -> None:
    files = dict(COMPOSE_PROJECT)
    files["docker-compose.yml"] = files["docker-compose.yml"].replace(
        "image: redis:7-alpine", "image: example-org/message-queue:3"
    )
    url = git_server.create_repo("compose-missing-image", files)
    job = stack.wait_job(stack.submit(repo_url=url, description="deploy it"), timeout=600)
    assert job["status"] == "failed" and job["stage"] == "provisioner", job["error"]
    assert "example-org/message-queue:3" in job["error"]
    assert "BASE_IMAGE_OVERRIDES" in job["error"]


def test_a_missing_image_nothing_needs_is_left_out_and_env_comes_from_dotenv(
    stack, git_server
) -> None:
    # As template repositories ship them: an admin page on an image that is not here and
    # that no other service needs, and a required variable the committed .env sets.
    files = dict(COMPOSE_PROJECT)
    files["docker-compose.yml"] = (
        files["docker-compose.yml"]
        .replace("${DB_PASSWORD:-example}", "${DB_PASSWORD:?set it in .env}")
        .replace(
            "volumes:\n  db-data:",
            "  admin:\n    image: example-org/db-admin:1\n    depends_on: [db]\n"
            '    ports:\n      - "8082:8080"\nvolumes:\n  db-data:',
        )
    )
    files[".env"] = "DB_PASSWORD=from-dotenv\n"
    url = git_server.create_repo("compose-left-out", files)
    job_id = stack.submit(repo_url=url, description="deploy the voting app")
    job = stack.wait_job(job_id, timeout=600)
    messages = [line["message"] for line in job["logs"]]
    assert job["status"] == "completed", (job["error"], messages[-20:])
    deployment = job["result"]["deployment"]
    assert deployment["services_left_out"] == ["admin"]
    assert "admin" not in deployment["services"] and deployment["front_service"] == "front"
    assert any(
        "compose service admin left out: its image example-org/db-admin:1 is not on this "
        "Docker engine" in message
        for message in messages
    ), messages
    answer = httpx.get(job["result"]["url"], timeout=10)
    assert answer.status_code == 200 and "votes counted by the worker = " in answer.text
    client = docker.from_env()
    db = client.containers.get(f"autodeploy-{job_id}-db")
    assert "POSTGRES_PASSWORD=from-dotenv" in db.attrs["Config"]["Env"]
    assert httpx.delete(f"{stack.url}/job/{job_id}").status_code == 202
    stack.wait_job(job_id, statuses=("destroyed",), timeout=120)
