"""Run the real system for tests: an isolated database + vhost, and the five processes.

Each `Stack` gets its own PostgreSQL database (migrated with alembic) and its own
RabbitMQ virtual host on the machine's shared servers, dropped afterwards, so two runs
(or two tests) never see each other's jobs or messages.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", f"postgresql://postgres@{PG_HOST}:5432/postgres")
RABBIT_HOST = os.environ.get("TEST_RABBIT_HOST", "127.0.0.1")
RABBIT_API = os.environ.get("TEST_RABBIT_API", f"http://{RABBIT_HOST}:15672/api")
RABBIT_USER = "guest"
RABBIT_PASSWORD = "guest"

SERVICES = ("gateway", "analyzer", "generator", "provisioner", "verifier")

__all__ = ["SERVICES", "Isolated", "Stack", "free_port", "rabbit_api"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rabbit_api(method: str, path: str, body: Any = None) -> Any:
    """Call the RabbitMQ management HTTP API."""
    auth = base64.b64encode(f"{RABBIT_USER}:{RABBIT_PASSWORD}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{RABBIT_API}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def queue_depth(vhost: str, queue: str, timeout: float = 10) -> int:
    """Messages in ``queue``, once the management API has counted them.

    A queue's counters appear in the API only after its first statistics tick: until then
    the answer has no ``messages`` at all, which is not zero.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = rabbit_api("GET", f"/queues/{vhost}/{queue}")
        if "messages" in found:
            return int(found["messages"])
        if time.monotonic() > deadline:
            raise AssertionError(f"RabbitMQ counted no messages for {queue} in {timeout} s")
        time.sleep(0.3)


def _sql(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


@dataclass
class Isolated:
    """A database and a vhost of one's own."""

    name: str
    database_url: str
    amqp_url: str

    @classmethod
    def create(cls) -> Isolated:
        """Create the database (migrated to head) and the vhost."""
        name = f"adtest_{uuid.uuid4().hex[:12]}"
        _sql(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
        dsn = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": dsn},
            check=True,
            capture_output=True,
        )
        rabbit_api("PUT", f"/vhosts/{name}")
        rabbit_api(
            "PUT",
            f"/permissions/{name}/{RABBIT_USER}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        amqp = f"amqp://{RABBIT_USER}:{RABBIT_PASSWORD}@{RABBIT_HOST}:5672/{name}"
        return cls(name=name, database_url=dsn, amqp_url=amqp)

    def drop(self) -> None:
        """Remove what its jobs deployed on Docker, then drop the database and the vhost."""
        _remove_deployments(self)
        try:
            rabbit_api("DELETE", f"/vhosts/{self.name}")
        except urllib.error.HTTPError:
            pass
        _sql(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def sql(self, query: str, *args: Any) -> list[dict[str, Any]]:
        """Run a query on this database."""
        return _sql(self.database_url, query, *args)


def _remove_deployments(iso: Isolated) -> None:
    """Tear down the containers, networks, volumes and images of this database's jobs."""
    if not Path("/var/run/docker.sock").exists() and not os.environ.get("DOCKER_HOST"):
        return
    from shared.capabilities.docker_local import JOB_LABEL, DockerLocal, job_labels

    try:
        ids = {str(r["id"]) for r in iso.sql("SELECT id FROM jobs")}
        engine = DockerLocal()
        labelled = engine.client.containers.list(all=True, filters={"label": JOB_LABEL})
        # Images carry no label: their tags name the job (job_image_tags).
        tags = [tag for image in engine.client.images.list() for tag in image.tags]
    except Exception:  # no database or no engine: nothing of ours to remove
        return
    deployed = {obj.labels.get(JOB_LABEL) for obj in labelled} & ids
    deployed |= {job_id for job_id in ids if any(job_id in tag for tag in tags)}
    for job_id in sorted(deployed):
        engine.teardown(job_labels(job_id))
    # Each app's proxy outlives its revisions (shared/proxy.py): it goes with the app.
    from shared.apps import APP_LABEL

    try:
        apps = [str(r["id"]) for r in iso.sql("SELECT id FROM apps")]
    except Exception:  # a database that never reached migration 0006
        return
    for app_id in apps:
        engine.teardown({APP_LABEL: app_id})


@dataclass
class Stack:
    """The gateway and the four stage services as real processes."""

    iso: Isolated
    workdir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    # Per service, on top of env_overrides (a metrics port of its own, say).
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    _starts: dict[str, int] = field(default_factory=dict)
    # Stage processes run the stand-in stages (tests/support/standin.py) instead.
    standin: bool = False
    # The module run for a stand-in stage (one that adds faults, say).
    standin_module: str = "tests.support.standin"

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment every process of this stack runs with."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("_CONCURRENCY") and k not in ("DATABASE_URL", "AMQP_URL")
        }
        return {
            **base,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.iso.database_url,
            "AMQP_URL": self.iso.amqp_url,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            "WORKSPACE_DIR": str(self.workdir / "work"),
            "TOKEN_ENCRYPTION_KEY": self.token_key,
            "RETRY_BASE_DELAY_MS": "200",
            "METRICS_PORT": "0",
            "LOG_LEVEL": "INFO",
            "BASE_IMAGE_OVERRIDES": str(ROOT / "deploy/base-images/overrides.json"),
            **self.env_overrides,
        }

    def log_path(self, service: str) -> Path:
        """Where a service's stdout/stderr goes (one file per start)."""
        return self.workdir / f"{service}.{self._starts.get(service, 0)}.log"

    def start(self, services: Iterable[str] = SERVICES, timeout: float = 30) -> Stack:
        """Start services and wait until each is ready."""
        services = list(services)
        for service in services:
            self.start_service(service, wait=False)
        for service in services:
            self.wait_ready(service, timeout)
        return self

    def start_service(self, service: str, *, wait: bool = True, timeout: float = 30) -> None:
        """Start one service process."""
        self._starts[service] = self._starts.get(service, 0) + 1
        log = self.log_path(service).open("wb")
        module = ["-m", f"services.{service}"]
        if self.standin and service != "gateway":
            module = ["-m", self.standin_module, service]
        self.procs[service] = subprocess.Popen(
            [sys.executable, *module],
            cwd=ROOT,
            env={**self.env(), **self.service_env.get(service, {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready(service, timeout)

    def wait_ready(self, service: str, timeout: float = 30) -> None:
        """Block until the service says it is ready (gateway: /readyz answers 200)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[service]
            if proc.poll() is not None:
                raise RuntimeError(f"{service} exited early:\n{self.tail(service)}")
            if service == "gateway":
                try:
                    if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            elif '"ready": true' in self.log_path(service).read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{service} not ready after {timeout}s:\n{self.tail(service)}")

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to a service and reap it."""
        proc = self.procs[service]
        proc.send_signal(sig)
        proc.wait(timeout=20)

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def tail(self, service: str, lines: int = 40) -> str:
        """The end of a service's log."""
        path = self.log_path(service)
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def all_logs(self) -> str:
        """Everything every process printed."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))

    # --- API helpers -------------------------------------------------------------------

    def submit(self, **body: Any) -> str:
        """POST /request; returns the job id."""
        response = httpx.post(f"{self.url}/request", json=body, timeout=10)
        assert response.status_code == 202, response.text
        return str(response.json()["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /job/{id}."""
        response = httpx.get(f"{self.url}/job/{job_id}", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_job(
        self, job_id: str, statuses: Iterable[str] = ("completed",), timeout: float = 120
    ) -> dict[str, Any]:
        """Poll until the job reaches one of ``statuses`` (or any ending status)."""
        wanted = set(statuses)
        ending = {"completed", "planned", "failed", "rejected", "destroyed"}
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in wanted or job["status"] in ending:
                return job
            time.sleep(0.1)
        raise TimeoutError(
            f"job {job_id} still {job.get('status')} after {timeout}s; logs: "
            + json.dumps(job.get("logs", [])[-10:], default=str)
        )

    def sql(self, query: str, *args: Any) -> list[dict[str, Any]]:
        """Query the stack's database."""
        return self.iso.sql(query, *args)

    def all_rows_text(self) -> str:
        """Every row of every table of the stack's database, as text (for secret scans)."""
        tables = self.sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        return "\n".join(
            row["r"]
            for t in tables
            for row in self.sql(f'SELECT t::text AS r FROM "{t["table_name"]}" t')
        )

    def quote(self, value: str) -> str:
        """URL-quote helper for tests."""
        return urllib.parse.quote(value, safe="")
