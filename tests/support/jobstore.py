"""An in-memory job store and job log, for handler unit tests (no PostgreSQL).

`FakeJobStore` keeps what `shared.jobstore.PostgresJobStore` reads and writes in plain
dicts, with the same answers for the same data; a test fills it, runs a handler with a
`StageContext` over it, and looks at the `Outcome` and at what the store now holds.
`MemoryJobLog` is a `JobLog` whose lines stay in a list instead of job_logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from shared.apps import app_name_base, numbered_name, same_repository
from shared.db import LogLine
from shared.events import JobRequest
from shared.jobstore import AppSwitch, EarlierRound, StoredAttachment
from shared.logs import JobLog
from shared.settings import Settings
from shared.stage import StageContext

__all__ = ["FakeJobStore", "MemoryJobLog", "TaskRound", "fake_context"]


@dataclass(frozen=True)
class TaskRound:
    """A task job as the analyzer looks for it: its request's task, email, round; its repo."""

    job_id: UUID
    task: str
    email: str
    round: int
    repo: dict[str, Any] | None


@dataclass
class _FakeAppSwitch:
    store: FakeJobStore
    app_id: UUID
    app: dict[str, Any] | None

    async def newer(self, *, current: UUID, job_id: UUID) -> bool:
        created = self.store.job_created
        return current in created and job_id in created and created[current] > created[job_id]

    async def set_current(self, *, job_id: UUID, proxy_port: int) -> None:
        self.store.apps[self.app_id].update(current_job_id=job_id, proxy_port=proxy_port)

    async def retire(self, *, job_id: UUID) -> None:
        if self.store.job_status.get(job_id, "destroyed") in ("destroying", "destroyed"):
            return
        self.store.job_status[job_id] = "destroying"
        self.store.teardowns.append(job_id)


@dataclass
class FakeJobStore:
    """`JobStore` in memory: fill the fields, run a handler, read the fields."""

    artifacts: dict[UUID, dict[str, str | bytes]] = field(default_factory=dict)
    attachments: dict[UUID, list[StoredAttachment]] = field(default_factory=dict)
    rounds: list[TaskRound] = field(default_factory=list)  # in the order they were created
    apps: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    job_apps: dict[UUID, UUID] = field(default_factory=dict)
    job_created: dict[UUID, datetime] = field(default_factory=dict)
    job_status: dict[UUID, str] = field(default_factory=dict)
    seconds: dict[UUID, dict[str, float]] = field(default_factory=dict)
    teardowns: list[UUID] = field(default_factory=list)  # revisions retired by a switch

    async def get_artifacts(self, *, job_id: UUID) -> dict[str, str]:
        return {
            path: content if isinstance(content, str) else content.decode()
            for path, content in self.artifacts.get(job_id, {}).items()
        }

    async def get_artifact_bytes(self, *, job_id: UUID) -> dict[str, bytes]:
        return {
            path: content.encode() if isinstance(content, str) else content
            for path, content in self.artifacts.get(job_id, {}).items()
        }

    async def get_attachments(self, *, job_id: UUID) -> list[StoredAttachment]:
        return sorted(self.attachments.get(job_id, []), key=lambda a: a.name)

    async def find_earlier_round(
        self, *, task: str, email: str, before_round: int
    ) -> EarlierRound | None:
        found = [
            (r.round, n, r)
            for n, r in enumerate(self.rounds)
            if r.task == task and r.email == email and r.round < before_round and r.repo
        ]
        if not found:
            return None
        latest = max(found, key=lambda item: (item[0], item[1]))[2]
        assert latest.repo is not None
        return EarlierRound(latest.job_id, latest.repo)

    async def join_app(
        self, *, job_id: UUID, request: JobRequest, app_root: str, target: str
    ) -> dict[str, Any]:
        if job_id in self.job_apps:
            return dict(self.apps[self.job_apps[job_id]])
        repo_url = same_repository(request.repo_url)
        same = [
            app_id
            for app_id, app in self.apps.items()
            if (app["repo_url"], app["app_root"], app["target"]) == (repo_url, app_root, target)
            and app["deleted_at"] is None
        ]
        if same:
            app_id = same[0]
        else:
            taken = {a["name"] for a in self.apps.values()}
            base = app_name_base(repo_url, app_root)
            name = next(
                numbered_name(base, n) for n in range(1, 100) if numbered_name(base, n) not in taken
            )
            app_id = uuid4()
            self.apps[app_id] = {
                "id": app_id,
                "name": name,
                "repo_url": repo_url,
                "app_root": app_root,
                "target": target,
                "description": request.description,
                "proxy_port": None,
                "current_job_id": None,
                "created_at": datetime.now(UTC),
                "deleted_at": None,
            }
        self.job_apps[job_id] = app_id
        return dict(self.apps[app_id])

    async def get_job_app(self, *, job_id: UUID) -> dict[str, Any] | None:
        if job_id not in self.job_apps:
            return None
        app = self.apps[self.job_apps[job_id]]
        return {k: app[k] for k in ("id", "name", "deleted_at", "current_job_id")}

    async def get_app_id(self, *, job_id: UUID) -> UUID | None:
        return self.job_apps.get(job_id)

    async def get_app(self, *, app_id: UUID) -> dict[str, Any] | None:
        app = self.apps.get(app_id)
        if app is None or app["deleted_at"] is not None:
            return None
        return {k: app[k] for k in ("id", "name", "proxy_port", "current_job_id")}

    async def stage_seconds(self, *, job_id: UUID) -> dict[str, float]:
        return dict(self.seconds.get(job_id, {}))

    @asynccontextmanager
    async def switching_app(self, *, app_id: UUID) -> AsyncIterator[AppSwitch]:
        app = self.apps.get(app_id)
        yield _FakeAppSwitch(self, app_id, dict(app) if app is not None else None)


class MemoryJobLog(JobLog):
    """A job log whose lines stay in ``lines`` (they still go to the service log)."""

    def __init__(self, *, job_id: UUID, service: str) -> None:
        super().__init__(None, job_id=job_id, service=service)
        self.lines: list[LogLine] = []

    async def store(self, lines: list[LogLine]) -> None:
        self.lines.extend(lines)

    @property
    def text(self) -> str:
        """Every line as ``level: message``, one a line."""
        return "\n".join(f"{line.level}: {line.message}" for line in self.lines)


def fake_context(
    settings: Settings,
    store: FakeJobStore,
    *,
    job_id: UUID,
    service: str,
    job: dict[str, Any] | None = None,
    attempt: int = 1,
) -> tuple[StageContext, MemoryJobLog]:
    """A handler's context over the fake store, and its in-memory log."""
    log = MemoryJobLog(job_id=job_id, service=service)
    ctx = StageContext(
        settings=settings,
        store=store,
        log=log,
        job=job if job is not None else {"id": job_id, "created_at": datetime.now(UTC)},
        attempt=attempt,
        delivery=1,
    )
    return ctx, log
