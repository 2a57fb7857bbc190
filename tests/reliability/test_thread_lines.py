"""`ThreadLines` on the real PostgreSQL: a build's output lines, in order, none missed.

The provisioner streams `docker build` and Terraform output from a worker thread into
the job's log. These tests hold that the lines are stored in the order the thread gave
them, all of them before the block ends (so before the stage commits), and that a
reader going on from the last line id it saw, as the page's live log does, sees every
line while they arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import asyncpg
import pytest

from shared import db
from shared.events import JobRequest, JobRequested
from shared.logs import JobLog, ThreadLines

pytestmark = pytest.mark.integration

LINES = [f"Step {i}/600 : RUN pip install package-{i}" for i in range(600)]


async def _new_job(pool: asyncpg.Pool) -> uuid.UUID:
    job_id = uuid.uuid4()
    request = JobRequest(repo_url="https://git.example.invalid/team/app", description="an app")
    await db.insert_job(
        pool,
        job_id=job_id,
        kind="deploy",
        request=request.model_dump(),
        event=JobRequested(job_id=job_id, request=request),
    )
    return job_id


def _emit(on_log: Callable[[str], None], lines: list[str]) -> None:
    """A build's output: lines in bursts, with short pauses between them."""
    for i, line in enumerate(lines):
        on_log(line)
        if i % 40 == 39:
            time.sleep(0.002)


async def test_lines_are_stored_in_order_before_the_block_ends(pool) -> None:
    job_id = await _new_job(pool)
    log = JobLog(pool, job_id=job_id, service="provisioner")
    async with ThreadLines(log, source="docker build") as on_log:
        await asyncio.to_thread(_emit, on_log, LINES)
    rows = await db.get_logs(pool, job_id=job_id)
    assert [r["message"] for r in rows] == LINES
    assert {r["fields"]["source"] for r in rows} == {"docker build"}
    assert {(r["service"], r["level"]) for r in rows} == {("provisioner", "info")}


async def test_a_reader_going_on_from_the_last_id_misses_no_line(pool) -> None:
    job_id = await _new_job(pool)
    log = JobLog(pool, job_id=job_id, service="provisioner")
    seen: list[str] = []
    done = asyncio.Event()

    async def read_on() -> None:
        after = 0
        while True:
            last_round = done.is_set()
            for row in await db.get_logs(pool, job_id=job_id, after_id=after):
                after = int(row["id"])
                seen.append(row["message"])
            if last_round:
                return
            await asyncio.sleep(0.001)

    reader = asyncio.create_task(read_on())
    async with ThreadLines(log, source="terraform") as on_log:
        await asyncio.to_thread(_emit, on_log, LINES)
    done.set()
    await reader
    assert seen == LINES


async def test_lines_that_cannot_be_stored_are_reported_and_the_work_goes_on(
    pool, caplog
) -> None:
    # No such job: the database refuses the lines (foreign key).
    log = JobLog(pool, job_id=uuid.uuid4(), service="provisioner")
    with caplog.at_level(logging.WARNING, logger="autodeploy.job"):
        async with ThreadLines(log, source="docker build") as on_log:
            await asyncio.to_thread(_emit, on_log, LINES[:5])
    assert any("output lines not stored" in r.getMessage() for r in caplog.records)


async def test_the_lines_are_stored_when_the_thread_fails(pool) -> None:
    job_id = await _new_job(pool)
    log = JobLog(pool, job_id=job_id, service="provisioner")

    def fail_after_output(on_log: Callable[[str], None]) -> None:
        _emit(on_log, LINES[:50])
        raise RuntimeError("the build failed")

    with pytest.raises(RuntimeError, match="the build failed"):
        async with ThreadLines(log, source="docker build") as on_log:
            await asyncio.to_thread(fail_after_output, on_log)
    rows = await db.get_logs(pool, job_id=job_id)
    assert [r["message"] for r in rows] == LINES[:50]
