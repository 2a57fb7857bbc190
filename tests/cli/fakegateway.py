"""A stand-in for the gateway's REST API that scripts how jobs progress.

It follows the documented request and response shapes (`services/gateway/schemas.py`) on
a real loopback HTTP server. Every `GET /job/{id}` answers with the job's current step,
then moves it one step along its script, so a poll-driven client sees each stage, and
each step's log lines, in order.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID, uuid4

__all__ = ["SCRIPTS", "FakeGateway", "Recorded", "Step"]

DEPLOYED_URL = "http://127.0.0.1:49153"


@dataclass(frozen=True)
class Step:
    """One observable state of a job, with the log lines that appear when it is reached."""

    status: str
    stage: str | None
    logs: tuple[tuple[str, str, str], ...] = ()  # (level, service, message)
    result: dict[str, Any] | None = None
    error: str | None = None


SCRIPTS: dict[str, tuple[Step, ...]] = {
    "completed": (
        Step("queued", None),
        Step("analyzing", "analyzer", (("info", "analyzer", "analyzer: cloning the repository"),)),
        Step("analyzing", "analyzer", (("info", "analyzer", "analyzer: cloned commit 0a1b2c3d"),)),
        Step(
            "generating",
            "generator",
            (("info", "analyzer", "analyzer: 12 files; flask app in '.', target local"),),
        ),
        Step(
            "provisioning",
            "provisioner",
            (("info", "generator", "generator: wrote 4 files (attempt 1)"),),
        ),
        Step(
            "verifying",
            "verifier",
            (("info", "provisioner", f"provisioner: running at {DEPLOYED_URL}"),),
        ),
        Step(
            "completed",
            "verifier",
            (("info", "verifier", f"verifier: {DEPLOYED_URL}/ answered HTTP 200 in 12 ms"),),
            result={"url": DEPLOYED_URL, "target": "local", "commit": "0a1b2c3d"},
        ),
    ),
    "rejected": (
        Step("queued", None),
        Step("analyzing", "analyzer", (("info", "analyzer", "analyzer: cloned commit 9f8e7d6c"),)),
        Step(
            "rejected",
            "analyzer",
            (("warning", "analyzer", "analyzer: rejected, not an HTTP service"),),
            error="not an HTTP service: no web framework or server found; it is a CLI tool",
        ),
    ),
    "failed": (
        Step("queued", None),
        Step("analyzing", "analyzer"),
        Step("generating", "generator"),
        Step("provisioning", "provisioner", (("info", "generator", "generator: wrote 4 files"),)),
        Step(
            "failed",
            "provisioner",
            (("error", "provisioner", "provisioner: docker build failed\nstep 3/5: exit 1"),),
            error="docker build failed: pip could not install flask==99\nstep 3/5 exited 1",
        ),
    ),
    "planned": (
        Step("queued", None),
        Step("analyzing", "analyzer"),
        Step("generating", "generator"),
        Step(
            "planned",
            "generator",
            (("info", "generator", "generator: plan ready; nothing applied (mode=plan)"),),
        ),
    ),
    "destroy": (
        Step("destroying", "provisioner"),
        Step("destroying", "provisioner", (("info", "provisioner", "provisioner: tearing down"),)),
        Step("destroyed", "provisioner", (("info", "provisioner", "provisioner: removed"),)),
    ),
}

FILES = {
    "Dockerfile": 'FROM python:3.12-slim\nCOPY . /app\nCMD ["gunicorn", "app:app"]\n',
    "compose.yaml": "services:\n  app:\n    build: .\n",
    "Makefile": "up:\n\tdocker compose up -d\n",
}


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Recorded:
    """A request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Job:
    id: UUID
    request: dict[str, Any]
    script: tuple[Step, ...]
    step: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    finished_at: str | None = None

    @property
    def current(self) -> Step:
        return self.script[self.step]


class FakeGateway:
    """The gateway's API on 127.0.0.1:<free port>, with jobs that follow scripts."""

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self._outage = range(0)  # indexes into `requests` answered with 503
        self._jobs: dict[UUID, _Job] = {}
        self._log_id = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL to give the CLI."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGateway:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def add_job(
        self, script: str, *, at: int = 0, repo_url: str = "https://git.example/app"
    ) -> str:
        """Create a job on `script`, at its step `at`; returns its id."""
        with self._lock:
            job = self._create({"repo_url": repo_url, "mode": "deploy"}, script)
            for _ in range(at):
                self._advance(job)
        return str(job.id)

    def fail_requests(self, count: int, *, after: int = 0) -> None:
        """Answer `count` requests with 503, starting `after` requests from now."""
        with self._lock:
            start = len(self.requests) + after
            self._outage = range(start, start + count)

    def job_status(self, job_id: str) -> str:
        """The status the job is at now."""
        with self._lock:
            return self._jobs[UUID(job_id)].current.status

    # -- the state machine -------------------------------------------------------------

    def _create(self, request: dict[str, Any], script: str) -> _Job:
        job = _Job(id=uuid4(), request=request, script=SCRIPTS[script])
        self._jobs[job.id] = job
        self._enter(job)
        return job

    def _advance(self, job: _Job) -> None:
        if job.step < len(job.script) - 1:
            job.step += 1
            self._enter(job)

    def _enter(self, job: _Job) -> None:
        step = job.current
        for level, service, message in step.logs:
            self._log_id += 1
            job.logs.append(
                {
                    "id": self._log_id,
                    "ts": _now(),
                    "service": service,
                    "level": level,
                    "message": message,
                    "fields": {},
                }
            )
        job.updated_at = _now()
        if job.step == len(job.script) - 1 and step.status != "destroying":
            job.finished_at = job.updated_at

    def _read(self, job: _Job) -> dict[str, Any]:
        step = job.current
        return {
            "id": str(job.id),
            "kind": "repository",
            "status": step.status,
            "stage": step.stage,
            "request": job.request,
            "analysis": {"language": "python", "framework": "flask", "port": {"value": 5000}}
            if job.step >= 3 or job.script is SCRIPTS["destroy"]
            else None,
            "result": step.result,
            "error": step.error,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
            "finished_at": job.finished_at,
            "logs": list(job.logs),
        }

    def _summary(self, job: _Job) -> dict[str, Any]:
        read = self._read(job)
        return {
            **{k: read[k] for k in ("id", "kind", "status", "stage", "error", "created_at")},
            "repo_url": job.request.get("repo_url"),
            "url": (read["result"] or {}).get("url"),
            "updated_at": read["updated_at"],
            "finished_at": read["finished_at"],
        }

    # -- HTTP --------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                gateway._dispatch(self, "GET")

            def do_POST(self) -> None:
                gateway._dispatch(self, "POST")

            def do_DELETE(self) -> None:
                gateway._dispatch(self, "DELETE")

        return Handler

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        parts = urlsplit(h.path)
        with self._lock:
            down = len(self.requests) in self._outage
            self.requests.append(Recorded(method, parts.path, dict(h.headers.items()), body))
        if self.token is not None and h.headers.get("authorization") != f"Bearer {self.token}":
            self._send(h, 401, {"detail": "missing or wrong bearer token"})
            return
        if down:
            self._send(h, 503, {"detail": "the job store is unavailable; try again"})
            return
        status, payload, ctype = self._route(
            method, unquote(parts.path), parse_qs(parts.query), body
        )
        self._send(h, status, payload, ctype)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, payload: Any, ctype: str = "application/json"
    ) -> None:
        data = (
            payload
            if isinstance(payload, bytes)
            else (
                payload.encode()
                if isinstance(payload, str) and ctype.startswith("text/")
                else json.dumps(payload).encode()
            )
        )
        h.send_response(status)
        h.send_header("content-type", ctype)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, str]:
        json_type = "application/json"
        if method == "POST" and path == "/request":
            return (*self._submit(body), json_type)
        if method == "GET" and path == "/list":
            return (*self._list(query), json_type)
        match = re.fullmatch(r"/job/([^/]+)(/.*)?", path)
        if not match:
            return 404, {"detail": "Not Found"}, json_type
        try:
            job_id = UUID(match.group(1))
        except ValueError:
            return 422, _invalid(["path", "job_id"], "Input should be a valid UUID"), json_type
        rest = match.group(2) or ""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return 404, {"detail": f"no job {job_id}"}, json_type
            if method == "GET" and rest == "":
                read = self._read(job)
                self._advance(job)
                return 200, read, json_type
            if method == "DELETE" and rest == "":
                job.script, job.step = SCRIPTS["destroy"], 0
                job.finished_at = None
                return 202, {"job_id": str(job_id), "status": "destroying"}, json_type
            files = FILES if job.step >= 3 or job.current.status == "planned" else {}
            if method == "GET" and rest == "/artifacts":
                listed = [
                    {"path": p, "size": len(c.encode()), "attempt": 1, "created_at": job.created_at}
                    for p, c in sorted(files.items())
                ]
                return 200, listed, json_type
            if method == "GET" and rest.startswith("/artifacts/"):
                name = rest.removeprefix("/artifacts/")
                if name not in files:
                    return 404, {"detail": f"job {job_id} has no file {name!r}"}, json_type
                return 200, files[name], "text/plain; charset=utf-8"
            if method == "GET" and rest == "/bundle.tar.gz":
                if not files:
                    return 404, {"detail": f"job {job_id} has no generated files yet"}, json_type
                return 200, _tarball(files, f"autodeploy-{job_id}"), "application/gzip"
        return 405, {"detail": "Method Not Allowed"}, json_type

    def _submit(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 422, _invalid(["body"], "Input should be a valid dictionary")
        for name in ("repo_url", "description"):
            if not body.get(name):
                return 422, _invalid(["body", name], "Field required")
        extra = set(body) - {"repo_url", "description", "target", "mode", "github_token"}
        if extra:
            return 422, _invalid(["body", sorted(extra)[0]], "Extra inputs are not permitted")
        if not str(body["repo_url"]).startswith("https://"):
            return 422, _invalid(
                ["body", "repo_url"], "Value error, repo_url must be an https:// URL"
            )
        if body.get("target") not in (None, "local", "aws-ec2", "aws-serverless", "kubernetes"):
            return 422, _invalid(
                ["body", "target"],
                "Input should be 'local', 'aws-ec2', 'aws-serverless' or 'kubernetes'",
            )
        description = str(body["description"])
        if body.get("mode") == "plan":
            script = "planned"
        else:
            script = next((s for s in ("rejected", "failed") if s in description), "completed")
        request = {k: v for k, v in body.items() if k != "github_token"}
        with self._lock:
            job = self._create(request, script)
        return 202, {"job_id": str(job.id), "status": "queued"}

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        try:
            limit = int(query.get("limit", ["50"])[0])
            offset = int(query.get("offset", ["0"])[0])
        except ValueError:
            return 422, _invalid(["query", "limit"], "Input should be a valid integer")
        if not 1 <= limit <= 200:
            return 422, _invalid(["query", "limit"], "Input should be less than or equal to 200")
        status = query.get("status", [None])[0]
        with self._lock:
            jobs = [
                j for j in reversed(self._jobs.values()) if not status or j.current.status == status
            ]
            items = [self._summary(j) for j in jobs[offset : offset + limit]]
        total = len(jobs)
        next_offset = offset + len(items) if offset + len(items) < total else None
        return 200, {
            "items": items,
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": next_offset,
        }


def _invalid(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]}


def _tarball(files: dict[str, str], prefix: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, content in sorted(files.items()):
            data = content.encode()
            info = tarfile.TarInfo(f"{prefix}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
