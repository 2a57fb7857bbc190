"""Settings, read once per process from the environment (and `.env`)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every setting of every service. Built once at start-up and passed down."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/autodeploy"
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    # `shared.wire`: frames of one event-loop turn leave in one socket write. Off = aio-pika's
    # own connection, untouched (the fallback if a library release breaks the trick).
    amqp_coalesce_writes: bool = True

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_workers: int = Field(default=1, ge=1, le=64)
    # `services.gateway.fastpath`: a well-formed POST /request skips FastAPI's per-request
    # layers. Off = every request goes through FastAPI's route.
    gateway_fast_path: bool = True
    max_request_bytes: int = 1_048_576
    # POST /tasks bodies carry base64 attachments, so they may be larger.
    max_task_request_bytes: int = 16 * 1_048_576
    # Comma-separated bearer tokens; when set, every API route but health/metrics needs one.
    api_tokens: SecretStr | None = None
    # The names the gateway answers under (its Host header; `*.example.com` wildcards, `*`
    # for any): a web page that rebinds its own name to 127.0.0.1 is refused. The default
    # covers loopback and the compose stack's service name.
    gateway_allowed_hosts: str = "localhost,127.0.0.1,[::1],gateway"

    analyzer_concurrency: int = Field(default=2, ge=1, le=256)
    generator_concurrency: int = Field(default=4, ge=1, le=256)
    provisioner_concurrency: int = Field(default=2, ge=1, le=256)
    verifier_concurrency: int = Field(default=4, ge=1, le=256)

    # Transient failures are retried this many times (with exponential backoff starting at
    # retry_base_delay_ms) before the job fails and its message is dead-lettered.
    max_retries: int = Field(default=3, ge=0, le=20)
    retry_base_delay_ms: int = Field(default=1000, ge=10)
    # Broker-side cap on deliveries of one message: protects against a message that kills
    # the consumer process itself (which no in-process retry counter can see).
    delivery_limit: int = Field(default=6, ge=1)
    # A working stage stamps its run this often. A redelivery of an event whose run beat
    # within 3 heartbeats is left to that run (the broker's consumer timeout took the
    # delivery back; the stage did not die) and looked at again 3 heartbeats later.
    stage_heartbeat_s: float = Field(default=5.0, gt=0, le=600)
    # A redelivery left to a live run this many times in a row counts as a failed attempt
    # (a run that beats but never ends, say a hung handler): retried, then the job fails.
    # 120 looks, 3 heartbeats apart, are 30 minutes at the default heartbeat.
    stage_max_parks: int = Field(default=120, ge=1)
    # Group commit: statements that arrive while one round trip is out share the next.
    # Under load (the last batch held more than one) the next batch waits this long for
    # company; alone, a statement never waits.
    batch_linger_ms: float = Field(default=2.0, ge=0, le=100)

    metrics_port: int = 0
    log_level: str = "INFO"

    workspace_dir: str = "/tmp/autodeploy-work"  # noqa: S108 - overridable; per-job subdirs
    git_allowed_hosts: str = ""
    git_clone_timeout_s: float = 120.0
    git_max_repo_mb: int = 500
    git_max_files: int = 200_000
    # Revisions of an app fetch into a clone kept for the app under WORKSPACE_DIR/kept/
    # (fetch, not clone); at most this many apps keep one (the least recently used go),
    # and a deleted app's goes with it. 0: every revision clones afresh.
    kept_clones: int = Field(default=20, ge=0)
    github_token: SecretStr | None = None
    # Fernet key used to carry a request's GitHub token between stages without ever
    # storing it in clear text; generate one with `make secret-key`.
    token_encryption_key: SecretStr | None = None

    # Official base image → replacement (JSON object, or the path of a JSON file), for
    # registry mirrors and air-gapped machines: e.g. deploy/base-images/overrides.json.
    base_image_overrides: str = ""
    # Where the local target publishes app ports, and the host its URLs name. Empty: the
    # host's 127.0.0.1 for a local engine (0.0.0.0 and the engine's host for a remote
    # DOCKER_HOST). Inside compose, publish on 0.0.0.0 and name host.docker.internal.
    docker_publish_address: str = ""
    deploy_url_host: str = ""
    # Limits for a job's app and backing-service containers on the local target: memory
    # (MB, no swap beyond it), CPUs (fractions allowed) and processes. The capabilities
    # app containers keep (all others are dropped; no-new-privileges always): what an
    # image that starts as root and switches to a service user (nginx) needs. Empty
    # keeps none, enough for an app that runs as a non-root user on any port.
    container_memory_mb: int = Field(default=512, ge=16)
    container_cpus: float = Field(default=1.0, gt=0, le=64)
    container_pids_limit: int = Field(default=256, ge=16)
    container_capabilities: str = "CHOWN,DAC_OVERRIDE,SETGID,SETUID"
    # Each build step's memory (MB) and relative CPU weight (1024 = one full share), and
    # the build's total time: a longer build is stopped and its job fails.
    build_memory_mb: int = Field(default=2048, ge=64)
    build_cpu_shares: int = Field(default=512, ge=2, le=262144)
    build_timeout_s: float = Field(default=900.0, gt=0)
    # The reaper removes containers, networks and volumes of jobs that ended failed or
    # destroyed, and of any job older than REAP_AFTER_S (0: never by age), at start-up
    # and every REAPER_INTERVAL_S (0: only at start-up).
    reap_after_s: float = Field(default=7 * 86400.0, ge=0)
    reaper_interval_s: float = Field(default=600.0, ge=0)
    # Each app's stable address is a small nginx container (shared/proxy.py) built from this
    # image, mapped through BASE_IMAGE_OVERRIDES like any base image.
    app_proxy_image: str = "nginx:1.27-alpine"
    # How long a revision switch may take to show on the app's URL before it counts failed.
    app_switch_timeout_s: float = Field(default=15.0, gt=0, le=600)
    # A signed webhook's delivery id is remembered this long (replays within it start
    # nothing); older ones are deleted as new deliveries arrive. Default: 7 days.
    webhook_deliveries_keep_s: float = Field(default=7 * 86400.0, gt=0)
    # How long the verifier keeps trying the deployed URL before it calls the deploy failed.
    verify_timeout_s: float = 60.0
    # A cloud target's URL answers only after the instance boots, installs Docker and builds
    # (or the load balancer registers a task that pulled its image): minutes, not seconds.
    cloud_verify_timeout_s: float = 900.0

    # Deploy → health check → repair rounds before a job fails at the verifier.
    max_deploy_attempts: int = Field(default=2, ge=1, le=5)

    # Any OpenAI-compatible endpoint; without a key the analysis and generation are
    # purely deterministic.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 30.0
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_max_calls: int = Field(default=6, ge=1, le=50)

    # Cloud credentials: their presence (not their value) steers the target choice, and
    # the Terraform runner passes them to terraform's environment.
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    terraform_bin: str = "terraform"
    terraform_timeout_s: float = 1800.0
    # Cost before apply (`shared.cost`): a plan whose estimate is above this many US
    # dollars a month is refused before apply (0 = no limit). COST_PRICE_TABLE: a price
    # table of your own in the shape of shared/prices/aws.json (empty = that one).
    max_monthly_usd: float = Field(default=0.0, ge=0)
    cost_price_table: str = ""
    # Container targets push the app image before applying: aws-serverless and kubernetes
    # on EKS to the job's ECR repository (AWS_ENDPOINT_URL points boto3's ECR calls at a
    # stand-in), kubernetes on a cluster of yours to KUBERNETES_IMAGE_REGISTRY (host[/path]),
    # which that cluster must be able to pull from; KUBECONFIG_PATH is handed to Terraform.
    aws_endpoint_url: str = ""
    kubernetes_image_registry: str = ""
    kubeconfig_path: str = ""

    # --- brief-to-site tasks (POST /tasks) ---
    # The shared secret evaluators send in the `secret` field; /tasks is closed without it.
    task_secret: SecretStr | None = None
    attachment_max_bytes: int = Field(default=1_000_000, ge=1)
    # GitHub publishing: with GITHUB_TOKEN set, sites go to a new public repository with
    # Pages; without it, to PAGES_GIT_REMOTE (any git smart-HTTP server) plus a local
    # preview container.
    github_api_url: str = "https://api.github.com"
    pages_git_remote: str = ""
    commit_author_name: str = "autodeploy"
    commit_author_email: str = "autodeploy@localhost"
    pages_timeout_s: float = 300.0
    # Evaluation callbacks retry (1, 2, 4… s) until this long after the request. It is
    # the round's one deadline: the LLM, the Pages wait and the repair round all plan
    # within it, and the last CALLBACK_RESERVE_S (at most a quarter of it) are kept for
    # the callback itself.
    callback_deadline_s: float = Field(default=600.0, gt=0)
    callback_reserve_s: float = Field(default=60.0, ge=0)
    callback_first_delay_s: float = 1.0
    # Headless Chromium for browser checks (empty: looked up on PATH).
    chromium_path: str = ""
    # Evaluation URLs on private or loopback hosts are refused unless listed here.
    callback_allowed_hosts: str = ""
    max_site_repairs: int = Field(default=1, ge=0, le=5)

    @cached_property
    def api_token_set(self) -> frozenset[str]:
        """The accepted API tokens (empty: the API is open)."""
        raw = self.api_tokens.get_secret_value() if self.api_tokens else ""
        return frozenset(t.strip() for t in raw.split(",") if t.strip())

    @property
    def llm_enabled(self) -> bool:
        """An LLM is configured."""
        return self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())

    @property
    def cloud_credentials(self) -> bool:
        """AWS credentials are configured."""
        return all(
            v is not None and bool(v.get_secret_value())
            for v in (self.aws_access_key_id, self.aws_secret_access_key)
        )

    @cached_property
    def gateway_host_names(self) -> tuple[str, ...]:
        """The Host names the gateway answers (``*`` alone: any)."""
        return tuple(h.strip().lower() for h in self.gateway_allowed_hosts.split(",") if h.strip())

    @field_validator("gateway_allowed_hosts")
    @classmethod
    def _host_patterns(cls, value: str) -> str:
        names = [h.strip() for h in value.split(",") if h.strip()]
        if not names:
            raise ValueError("GATEWAY_ALLOWED_HOSTS is empty; list the gateway's names, or '*'")
        for name in names:
            if "*" in name[1:] or (name.startswith("*") and name != "*" and name[:2] != "*."):
                raise ValueError(
                    f"GATEWAY_ALLOWED_HOSTS: {name!r} is not a host name; a wildcard is "
                    "'*.example.com' (any subdomain) or '*' alone (any host)"
                )
        return value

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @cached_property
    def allowed_git_hosts(self) -> frozenset[str]:
        """Hosts that may be cloned from even when they are private or loopback."""
        return frozenset(h.strip().lower() for h in self.git_allowed_hosts.split(",") if h.strip())

    @property
    def container_capability_list(self) -> tuple[str, ...]:
        """CONTAINER_CAPABILITIES as names (``CAP_`` prefixes and case do not matter)."""
        names = (c.strip().upper() for c in self.container_capabilities.split(","))
        return tuple(n.removeprefix("CAP_") for n in names if n)

    def concurrency(self, stage: str) -> int:
        """The prefetch count (jobs in flight) of a stage service."""
        return int(getattr(self, f"{stage}_concurrency"))
