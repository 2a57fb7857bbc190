"""The analysis record: what the analyzer concluded about a repository, and why.

It travels in the ``job.analyzed`` event, is stored on the job (``jobs.analysis``) and is
the generator's only input about the code. Every conclusion carries its evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "ANALYSIS_SCHEMA_VERSION",
    "AUTO_CLOUD_TARGETS",
    "Analysis",
    "AppCandidate",
    "BackingService",
    "DescriptionRequest",
    "EnvVar",
    "Evidence",
    "ExistingDocker",
    "PortFinding",
    "Target",
    "Verdict",
]

ANALYSIS_SCHEMA_VERSION = 1

Target = Literal["local", "aws-ec2", "aws-serverless", "kubernetes"]
# The targets the analyzer picks on its own with cloud credentials (kubernetes only when a
# request asks for it: it needs a cluster). The provisioner applies each of them end to end.
AUTO_CLOUD_TARGETS: frozenset[str] = frozenset({"aws-ec2", "aws-serverless"})
Verdict = Literal["http-service", "not-a-service"]


class Evidence(BaseModel):
    """Where a conclusion comes from: a file (relative to the repository root) and line."""

    file: str
    line: int | None = None
    text: str = ""


class PortFinding(BaseModel):
    """The port the app listens on and the evidence that decided it."""

    value: int
    source: Literal[
        "description",
        "dockerfile",
        "compose",
        "code",
        "cli",
        "procfile",
        "framework-default",
        "runtime",
    ]
    evidence: list[Evidence] = Field(default_factory=list)


class EnvVar(BaseModel):
    """An environment variable the code reads."""

    name: str
    default: str | None = None
    secret: bool = False
    required: bool = False
    evidence: list[Evidence] = Field(default_factory=list)


class BackingService(BaseModel):
    """A service the app needs next to it (database, cache, broker)."""

    kind: Literal["postgres", "mysql", "redis", "mongodb", "rabbitmq", "memcached", "elasticsearch"]
    evidence: list[Evidence] = Field(default_factory=list)
    # True when the code uses it only if an env variable is set (`condition` says where) and
    # runs without it otherwise (SQLite, no cache): a deployment neither starts nor needs it.
    optional: bool = False
    condition: Evidence | None = None


class ExistingDocker(BaseModel):
    """Docker files the repository already has."""

    dockerfile: str | None = None
    exposed_ports: list[int] = Field(default_factory=list)
    compose_file: str | None = None
    compose_services: list[str] = Field(default_factory=list)
    compose_ports: list[int] = Field(default_factory=list)


class AppCandidate(BaseModel):
    """One app found in the repository (a monorepo has several)."""

    root: str
    language: str
    framework: str | None = None
    is_web: bool = True
    evidence: list[Evidence] = Field(default_factory=list)


class DescriptionRequest(BaseModel):
    """What the plain-language description asks for, as far as it says."""

    port: int | None = None
    env: dict[str, str] = Field(default_factory=dict)
    target: Target | None = None
    region: str | None = None
    size: str | None = None
    domain: str | None = None
    health_path: str | None = None
    app_hint: str | None = None
    services: list[str] = Field(default_factory=list)


class Analysis(BaseModel):
    """Everything the analyzer concluded, each conclusion with its reasons."""

    schema_version: int = ANALYSIS_SCHEMA_VERSION
    commit_sha: str = ""
    tree: list[str] = Field(default_factory=list)
    tree_truncated: bool = False
    file_count: int = 0

    app_root: str = "."
    candidates: list[AppCandidate] = Field(default_factory=list)
    verdict: Verdict = "http-service"
    verdict_reasons: list[str] = Field(default_factory=list)

    language: str | None = None
    framework: str | None = None
    package_manager: str | None = None
    runtime_version: str | None = None
    port: PortFinding | None = None
    bind_address: str | None = None
    binds_loopback: bool = False
    start_command: str | None = None
    build_command: str | None = None
    # Folder (relative to app_root) of the files a web server serves, for static sites and
    # SPAs whose build output is static; None for apps that run their own server.
    static_dir: str | None = None
    # The `module:name` a WSGI/ASGI server loads (`bot:app_flask`), when the code names it;
    # None where the start command says it or the stack has no such object.
    app_object: str | None = None
    health_path: str = "/"
    env_vars: list[EnvVar] = Field(default_factory=list)
    services: list[BackingService] = Field(default_factory=list)
    docker: ExistingDocker | None = None

    target: Target = "local"
    target_reasons: list[str] = Field(default_factory=list)
    description: DescriptionRequest = Field(default_factory=DescriptionRequest)
    llm_used: bool = False
    conflicts: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    def needed_service_kinds(self) -> list[str]:
        """Kinds of the backing services a deployment starts: all but the optional ones."""
        return list(dict.fromkeys(s.kind for s in self.services if not s.optional))
