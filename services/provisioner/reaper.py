"""The stale-job reaper: removes what jobs left on the Docker engine once nobody needs it.

A job's containers, networks and volumes carry its id and creation time as labels.
Those of a job that ended ``failed`` or ``destroyed`` (a teardown that never came, or
one that half failed), and those older than ``REAP_AFTER_S`` whatever their job, are
removed. It runs when the provisioner starts and every ``REAPER_INTERVAL_S`` after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import asyncpg

from shared.capabilities.docker_local import DockerLocal, job_labels
from shared.contracts.errors import DeployError
from shared.settings import Settings

__all__ = ["REAPED_STATUSES", "ReapReport", "db_job_statuses", "reap_stale_jobs", "start_reaper"]

logger = logging.getLogger(__name__)

# Final states whose containers nobody will look at again.
REAPED_STATUSES = frozenset({"failed", "destroyed"})

JobStatuses = Callable[[list[str]], Awaitable[Mapping[str, str]]]


@dataclass
class ReapReport:
    """The jobs whose objects were removed, and why; what could not be removed."""

    reaped: dict[str, str] = field(default_factory=dict)  # job id -> reason
    errors: list[str] = field(default_factory=list)


def db_job_statuses(pool: asyncpg.Pool) -> JobStatuses:
    """Look job ids up in the jobs table (ids that are not there are simply absent)."""

    async def statuses(job_ids: list[str]) -> Mapping[str, str]:
        rows = await pool.fetch(
            "SELECT id::text AS id, status FROM jobs WHERE id::text = ANY($1::text[])", job_ids
        )
        return {str(r["id"]): str(r["status"]) for r in rows}

    return statuses


async def reap_stale_jobs(
    engine: DockerLocal,
    statuses: JobStatuses,
    *,
    max_age_s: float,
    selector: Mapping[str, str] | None = None,
) -> ReapReport:
    """Tear down every job on the engine that ended badly or is older than ``max_age_s``.

    ``max_age_s`` <= 0 turns the age rule off. ``selector`` (extra labels) limits the
    reaper to objects carrying them too: a test reaps only what it made.
    """
    report = ReapReport()
    ages = await asyncio.to_thread(engine.job_ages, selector)
    if not ages:
        return report
    known = await statuses(sorted(ages))
    now = time.time()
    for job_id, created in sorted(ages.items()):
        status = known.get(job_id)
        if status in REAPED_STATUSES:
            reason = f"job {status}"
        elif max_age_s > 0 and now - created > max_age_s:
            reason = f"older than {max_age_s:g} s"
        else:
            continue
        try:
            result = await asyncio.to_thread(
                engine.teardown, {**job_labels(job_id), **(selector or {})}
            )
        except DeployError as exc:
            report.errors.append(f"{job_id}: {exc}")
            continue
        report.errors.extend(f"{job_id}: {e}" for e in result.errors)
        report.reaped[job_id] = reason
        logger.info(
            "reaper: removed job %s (%s): %d containers, %d networks, %d volumes",
            job_id,
            reason,
            len(result.containers),
            len(result.networks),
            len(result.volumes),
        )
    return report


_tasks: set[asyncio.Task[None]] = set()  # keeps the loop's task referenced


async def start_reaper(settings: Settings, engine: DockerLocal, pool: asyncpg.Pool) -> None:
    """Reap once now, then every ``reaper_interval_s`` in the background (0: only now)."""

    async def once() -> None:
        try:
            report = await reap_stale_jobs(
                engine, db_job_statuses(pool), max_age_s=settings.reap_after_s
            )
        except (DeployError, asyncpg.PostgresError, OSError) as exc:
            logger.warning("reaper: skipped this round: %s", exc)
            return
        for error in report.errors:
            logger.warning("reaper: %s", error)

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.reaper_interval_s)
            await once()

    await once()
    if settings.reaper_interval_s > 0:
        task = asyncio.create_task(loop(), name="provisioner-reaper")
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
