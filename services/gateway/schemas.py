"""Request and response bodies of the gateway's REST API."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.security import RepoUrlError, check_repo_url

__all__ = [
    "ArtifactRead",
    "JobAccepted",
    "JobCreate",
    "JobLogLine",
    "JobPage",
    "JobRead",
    "JobSummary",
    "body_fingerprint",
    "bundle_tarball",
]

Target = Literal["local", "aws-ec2", "aws-serverless", "kubernetes"]


class JobCreate(BaseModel):
    """A repository deployment request."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    repo_url: str = Field(
        min_length=1,
        max_length=2048,
        description="https:// URL of a Git repository",
        examples=["https://github.com/pallets/flask"],
    )
    description: str = Field(
        min_length=1,
        max_length=10_000,
        description="What to deploy, in plain language",
        examples=["deploy this Flask app, it needs a Postgres"],
    )
    target: Target | None = Field(
        default=None, description="Force a target instead of letting the analyzer choose"
    )
    mode: Literal["deploy", "plan"] = Field(
        default="deploy", description="'plan' stops after the generator: nothing is applied"
    )
    github_token: SecretStr | None = Field(
        default=None,
        max_length=512,
        description="Fine-grained token for a private repository; never stored or echoed",
    )

    @field_validator("repo_url")
    @classmethod
    def _repo_url_shape(cls, value: str) -> str:
        # Host allow-listing needs settings, so the route re-checks with them; this catches
        # every shape problem (scheme, credentials, leading '-') with a clear reason.
        try:
            check_repo_url(value, shape_only=True)
        except RepoUrlError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("description is blank; say what to deploy")
        return value


class JobAccepted(BaseModel):
    """The answer to an accepted request."""

    job_id: UUID
    status: str


class JobLogLine(BaseModel):
    """One line of a job's log."""

    id: int
    ts: datetime
    service: str
    level: str
    message: str
    fields: dict[str, Any] = Field(default_factory=dict)


class JobSummary(BaseModel):
    """A job in a listing."""

    id: UUID
    kind: str
    status: str
    stage: str | None
    repo_url: str | None = None
    url: str | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class JobRead(BaseModel):
    """Everything about one job."""

    id: UUID
    kind: str
    status: str
    stage: str | None
    request: dict[str, Any]
    analysis: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    logs: list[JobLogLine]


class ArtifactRead(BaseModel):
    """A generated file in a listing."""

    path: str
    size: int
    attempt: int
    created_at: datetime


def bundle_tarball(files: Mapping[str, str], *, prefix: str) -> bytes:
    """Pack generated files into a tar.gz under one top-level folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, content in sorted(files.items()):
            data = content.encode()
            info = tarfile.TarInfo(f"{prefix}/{path}")
            info.size = len(data)
            info.mode = 0o755 if path.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def body_fingerprint(body: BaseModel) -> str:
    """sha256 of a request body in canonical JSON, leaving secrets out."""
    data = body.model_dump(mode="json", exclude={"github_token", "secret"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
