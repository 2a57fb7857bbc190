"""Typed job events: the only thing stages tell each other.

Each event is named in the past tense after what happened and carries ``job_id``,
``event_id`` (also the AMQP ``message_id``) and a schema version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from shared.analysis import Analysis, Target

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "ROUTING_KEYS",
    "Event",
    "JobAnalyzed",
    "JobCompleted",
    "JobFailed",
    "JobGenerated",
    "JobProvisioned",
    "JobRepairRequested",
    "JobRequest",
    "JobRequested",
    "JobTeardownRequested",
    "Mode",
    "TaskGenerated",
    "TaskPlanned",
    "TaskPublished",
    "TaskRepairRequested",
    "TaskRequest",
    "TaskRequested",
    "event_class",
]

EVENT_SCHEMA_VERSION = 1

Mode = Literal["deploy", "plan"]


def _now() -> datetime:
    return datetime.now(UTC)


class JobRequest(BaseModel):
    """What the user asked for, as it travels between stages (secrets only sealed)."""

    repo_url: str
    description: str
    target: Target | None = None
    mode: Mode = "deploy"
    # The GitHub token, encrypted with TOKEN_ENCRYPTION_KEY; never stored in clear text.
    sealed_token: str | None = None
    # An app's revision for one pushed commit (a webhook); None: the default branch's head.
    commit: str | None = None

    def public(self) -> dict[str, Any]:
        """The request as stored on the job and shown by the API: no secrets at all."""
        # A request without a pinned commit stores what it always stored.
        hidden = {"sealed_token"} if self.commit else {"sealed_token", "commit"}
        return self.model_dump(exclude=hidden) | {"private": self.sealed_token is not None}


class TaskRequest(BaseModel):
    """A brief-to-site task as it travels between stages (never the secret)."""

    email: str
    task: str
    round: int
    nonce: str
    brief: str
    checks: list[str]
    evaluation_url: str
    attachments: list[str]  # names; the bytes are in task_attachments

    def public(self) -> dict[str, Any]:
        """The task as stored on the job and shown by the API."""
        return self.model_dump()


class Event(BaseModel):
    """Base of every job event."""

    model_config = ConfigDict(frozen=True)

    routing_key: ClassVar[str]

    schema_version: int = EVENT_SCHEMA_VERSION
    event_id: UUID = Field(default_factory=uuid4)
    job_id: UUID
    occurred_at: datetime = Field(default_factory=_now)


class JobRequested(Event):
    """A repository deployment was accepted by the gateway."""

    routing_key: ClassVar[str] = "job.requested"
    request: JobRequest


class JobAnalyzed(Event):
    """The analyzer understood the repository and chose a target."""

    routing_key: ClassVar[str] = "job.analyzed"
    request: JobRequest
    analysis: Analysis


class JobGenerated(Event):
    """The generator wrote and validated the bundle (stored as the job's artifacts)."""

    routing_key: ClassVar[str] = "job.generated"
    request: JobRequest
    analysis: Analysis
    artifact_paths: list[str]
    attempt: int = 1


class JobProvisioned(Event):
    """The provisioner applied the bundle to the target."""

    routing_key: ClassVar[str] = "job.provisioned"
    request: JobRequest
    analysis: Analysis
    deployment: dict[str, Any]
    attempt: int = 1


class JobRepairRequested(Event):
    """A deployment failed its health check in a way the generator may be able to fix."""

    routing_key: ClassVar[str] = "job.repair"
    request: JobRequest
    analysis: Analysis
    attempt: int  # the attempt the repaired bundle will be
    cause: str
    detected_port: int | None = None
    binds_loopback: bool = False
    logs_tail: str = ""


class TaskRequested(Event):
    """A brief-to-site task was accepted by the gateway."""

    routing_key: ClassVar[str] = "task.requested"
    task: TaskRequest


class TaskPlanned(Event):
    """The analyzer checked the brief and chose where the site goes."""

    routing_key: ClassVar[str] = "task.analyzed"
    task: TaskRequest
    target: Literal["github-pages", "git-preview"]
    # Round 2+: the repository round 1 published, and the job whose files it holds.
    repo: dict[str, Any] | None = None
    previous_job_id: UUID | None = None


class TaskGenerated(Event):
    """The generator wrote the site (stored as the job's artifacts)."""

    routing_key: ClassVar[str] = "task.generated"
    task: TaskRequest
    target: Literal["github-pages", "git-preview"]
    repo: dict[str, Any] | None = None
    attempt: int = 1
    # Why the labelled placeholder site was written instead of the LLM's (None: it was not).
    placeholder: str | None = None


class TaskPublished(Event):
    """The provisioner pushed the site and it is served."""

    routing_key: ClassVar[str] = "task.published"
    task: TaskRequest
    target: Literal["github-pages", "git-preview"]
    repo: dict[str, Any]
    commit_sha: str
    pages_url: str
    attempt: int = 1
    placeholder: str | None = None
    # Why the site is not known to be served yet (Pages not live in time); None: it is.
    not_live: str | None = None


class TaskRepairRequested(Event):
    """Browser checks failed; the generator gets another go with the failures."""

    routing_key: ClassVar[str] = "task.repair"
    task: TaskRequest
    target: Literal["github-pages", "git-preview"]
    repo: dict[str, Any]
    failures: list[str]
    attempt: int


class JobCompleted(Event):
    """The verifier proved the deployment answers."""

    routing_key: ClassVar[str] = "job.completed"
    result: dict[str, Any]


class JobFailed(Event):
    """A stage gave up on the job."""

    routing_key: ClassVar[str] = "job.failed"
    stage: str
    reason: str


class JobTeardownRequested(Event):
    """Someone asked for a job's deployment to be removed."""

    routing_key: ClassVar[str] = "job.teardown"


_BY_KEY: dict[str, type[Event]] = {
    cls.routing_key: cls
    for cls in (
        JobRequested,
        JobAnalyzed,
        JobGenerated,
        JobProvisioned,
        JobRepairRequested,
        JobCompleted,
        JobFailed,
        JobTeardownRequested,
        TaskRequested,
        TaskPlanned,
        TaskGenerated,
        TaskPublished,
        TaskRepairRequested,
    )
}


def event_class(routing_key: str) -> type[Event]:
    """The event model for a routing key; KeyError when unknown."""
    return _BY_KEY[routing_key]


# Every routing key an event can carry.
ROUTING_KEYS: tuple[str, ...] = tuple(_BY_KEY)
