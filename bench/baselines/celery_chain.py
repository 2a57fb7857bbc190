"""The Celery baseline: a 5-task chain on the same RabbitMQ doing the stages' PostgreSQL writes.

accept (the gateway: insert the job row) → analyze → generate → provision → verify. Each
stage task sets the job's working status, then in one transaction moves it on and writes
a log line (the generator also stores one artifact, the verifier marks the job finished),
on the same asyncpg driver and schema as autodeploy. Late acks, publisher confirms,
persistent messages, a durable quorum queue.

    BENCH_AMQP_URL=... BENCH_DATABASE_URL=... BENCH_READY_FILE=... \
        celery -A bench.baselines.celery_chain worker --concurrency 4 -Q bench.celery
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
from celery import Celery, chain
from celery.signals import worker_ready

__all__ = ["QUEUE", "app", "submit"]

QUEUE = "bench.celery"
REQUEST = {
    "repo_url": "https://git.bench.invalid/team/app",
    "description": "deploy this Flask app, it needs a Postgres",
}

app = Celery("autodeploy_bench", broker=os.environ.get("BENCH_AMQP_URL", "amqp://"))
app.conf.update(
    task_default_queue=QUEUE,
    task_default_queue_type="quorum",
    task_acks_late=True,
    task_ignore_result=True,
    task_serializer="json",
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_db: dict[str, Any] = {}


def _sql(work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    """Run on this worker process's own connection and event loop (made after the fork)."""
    if _db.get("pid") != os.getpid():
        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(asyncpg.connect(os.environ["BENCH_DATABASE_URL"]))
        _db.update(pid=os.getpid(), loop=loop, conn=conn)
    _db["loop"].run_until_complete(work(_db["conn"]))


def _stage(job_id: str, *, service: str, working: str, then: str, **extra: Any) -> str:
    async def work(conn: asyncpg.Connection) -> None:
        jid = uuid.UUID(job_id)
        await conn.execute(
            "UPDATE jobs SET status = $2, stage = $3, updated_at = clock_timestamp() WHERE id = $1",
            jid,
            working,
            service,
        )
        async with conn.transaction():
            await conn.execute(
                "UPDATE jobs SET status = $2, updated_at = clock_timestamp(), "
                "result = coalesce(result, '{}'::jsonb) || $3::jsonb, "
                "finished_at = CASE WHEN $2 = 'completed' THEN clock_timestamp() END "
                "WHERE id = $1",
                jid,
                then,
                json.dumps(extra.get("result", {})),
            )
            if "artifact" in extra:
                await conn.execute(
                    "INSERT INTO artifacts (job_id, path, content) VALUES ($1, $2, $3)",
                    jid,
                    "standin.txt",
                    extra["artifact"],
                )
            await conn.execute(
                "INSERT INTO job_logs (job_id, service, level, message) "
                "VALUES ($1, $2, 'info', $3)",
                jid,
                service,
                f"{service}: done",
            )

    _sql(work)
    return job_id


@app.task(name="bench.accept")
def accept(job_id: str) -> str:
    async def work(conn: asyncpg.Connection) -> None:
        await conn.execute(
            "INSERT INTO jobs (id, kind, status, request) VALUES ($1, 'repository', 'queued', $2)",
            uuid.UUID(job_id),
            json.dumps(REQUEST),
        )

    _sql(work)
    return job_id


@app.task(name="bench.analyze")
def analyze(job_id: str) -> str:
    return _stage(job_id, service="analyzer", working="analyzing", then="generating")


@app.task(name="bench.generate")
def generate(job_id: str) -> str:
    return _stage(
        job_id,
        service="generator",
        working="generating",
        then="provisioning",
        artifact=f"bundle of {job_id}\n",
    )


@app.task(name="bench.provision")
def provision(job_id: str) -> str:
    return _stage(
        job_id,
        service="provisioner",
        working="provisioning",
        then="verifying",
        result={"deployment": {"url": f"standin://{job_id}"}},
    )


@app.task(name="bench.verify")
def verify(job_id: str) -> str:
    return _stage(
        job_id,
        service="verifier",
        working="verifying",
        then="completed",
        result={"url": f"standin://{job_id}"},
    )


def submit(jobs: int, *, threads: int = 8) -> None:
    """Publish ``jobs`` chains (each publish waits for its confirm), ``threads`` at a time."""

    def one(_: int) -> None:
        chain(
            accept.s(str(uuid.uuid4())), analyze.s(), generate.s(), provision.s(), verify.s()
        ).apply_async()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(jobs)))


@worker_ready.connect
def _ready(**_: Any) -> None:
    ready = os.environ.get("BENCH_READY_FILE")
    if ready:
        Path(ready).write_text("ready\n")
