"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "BATCH_SIZE",
    "DEAD_LETTERED",
    "DEPLOY_OUTCOMES",
    "EVENTS_PUBLISHED",
    "HEALTH_CHECK_LATENCY",
    "JOBS_SUBMITTED",
    "JOB_OUTCOMES",
    "LLM_CALLS",
    "LLM_LATENCY",
    "LLM_TOKENS",
    "OUTBOX_LAG",
    "PARKED",
    "RETRIES",
    "STAGE_DURATION",
    "STAGE_IN_PROGRESS",
    "initialise_llm_metrics",
    "serve_metrics",
]

JOBS_SUBMITTED = Counter(
    "autodeploy_jobs_submitted_total", "Jobs accepted by the gateway", ["kind"]
)
JOB_OUTCOMES = Counter(
    "autodeploy_job_outcomes_total",
    "Jobs that ended, by final status and stage",
    ["status", "stage"],
)
STAGE_DURATION = Histogram(
    "autodeploy_stage_duration_seconds",
    "Time a stage spent on one event",
    ["stage", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
STAGE_IN_PROGRESS = Gauge("autodeploy_stage_in_progress", "Events being handled now", ["stage"])
RETRIES = Counter(
    "autodeploy_stage_retries_total", "Transient failures scheduled for retry", ["stage"]
)
PARKED = Counter(
    "autodeploy_stage_parked_total",
    "Redeliveries left to a run that still works on the event (consumer timeout)",
    ["stage"],
)
DEAD_LETTERED = Counter(
    "autodeploy_dead_lettered_total", "Messages given up on and dead-lettered", ["stage"]
)
EVENTS_PUBLISHED = Counter(
    "autodeploy_events_published_total", "Events relayed from the outbox", ["routing_key"]
)
DEPLOY_OUTCOMES = Counter(
    "autodeploy_deploy_outcomes_total",
    "Deployments applied by the provisioner, by target and outcome",
    ["target", "outcome"],
)
HEALTH_CHECK_LATENCY = Histogram(
    "autodeploy_health_check_latency_seconds",
    "Time a deployed URL took to answer one health-check request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_LAG = Histogram(
    "autodeploy_outbox_lag_seconds",
    "Time from an outbox row's commit to its confirmed publication",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "autodeploy_batch_size",
    "Statements sent together in one group-committed round trip, by process and statement",
    ["service", "statement"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


LLM_CALLS = Counter(
    "autodeploy_llm_calls_total",
    "LLM requests, by what they were for and how they ended",
    ["purpose", "outcome"],
)
LLM_TOKENS = Counter("autodeploy_llm_tokens_total", "LLM tokens used", ["kind"])
LLM_LATENCY = Histogram(
    "autodeploy_llm_latency_seconds",
    "Time one LLM request took, whatever its outcome",
    ["purpose"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)

PURPOSES = ("analyzer.pick_files", "analyzer.implications", "generator.improve", "generator.repair")


def initialise_llm_metrics() -> None:
    """Export the LLM series at zero from the start, so the first call shows on graphs."""
    for kind in ("prompt", "completion"):
        LLM_TOKENS.labels(kind=kind)
    for purpose in PURPOSES:
        LLM_CALLS.labels(purpose=purpose, outcome="ok")
        LLM_LATENCY.labels(purpose=purpose)


def serve_metrics(port: int) -> None:
    """Serve /metrics on a port of its own (0 = off)."""
    if port:
        start_http_server(port)
