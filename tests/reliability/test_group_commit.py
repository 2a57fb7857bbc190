"""Group commit on the real PostgreSQL: batched begin/commit/insert statements.

Several deliveries share one round trip and one transaction; these tests hold that a
batch gives each item exactly what it would have got alone, that one bad item fails only
itself (through the runner's `Batcher`), and that batches over the same jobs in opposite
orders do not deadlock.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid

import asyncpg
import pytest

from shared import db
from shared.batch import Batcher
from shared.events import JobFailed, JobRequest, JobRequested

pytestmark = pytest.mark.integration

OWNER = "bench-host/1/1"


def _new_job() -> db.NewJob:
    job_id = uuid.uuid4()
    request = JobRequest(repo_url="https://git.example.invalid/team/app", description="an app")
    event = JobRequested(job_id=job_id, request=request)
    return db.NewJob(job_id, "repository", request.public(), event)


async def _jobs(pool: asyncpg.Pool, n: int) -> list[db.NewJob]:
    jobs = [_new_job() for _ in range(n)]
    rows = await db.insert_jobs(pool, jobs)
    assert [r.event_id for r in rows] == [j.event.event_id for j in jobs]
    assert len({r.id for r in rows}) == n
    return jobs


def _begin(job: db.NewJob, *, status: str = "analyzing", stage: str = "analyzer") -> db.StageBegin:
    return db.StageBegin(
        job_id=job.job_id,
        stage=stage,
        event_id=job.event.event_id,
        delivery=1,
        working_status=status,
        owner=OWNER,
        lease_s=15.0,
    )


def _commit(job: db.NewJob, run_id: int, message: str = "analyzer: done") -> db.StageCommit:
    line = db.LogLine("info", message, {})
    return db.StageCommit(
        run_id=run_id,
        job_id=job.job_id,
        event_id=job.event.event_id,
        stage="analyzer",
        outcome="failed",
        status="failed",
        job_stage="analyzer",
        line=line,
        ended_line=db.LogLine("warning", "ended meanwhile", {}),
        finished=True,
        error="stand-in failure",
        artifacts={"Dockerfile": f"FROM scratch # {job.job_id}"},
        events=[JobFailed(job_id=job.job_id, stage="analyzer", reason="stand-in")],
    )


async def test_a_batch_of_begins_answers_each_delivery_in_the_order_given(pool) -> None:
    jobs = await _jobs(pool, 20)
    random.shuffle(jobs)  # not job order: the batch sorts internally, answers in this order
    missing = _new_job()  # names no job
    starts = await db.begin_stage_runs(pool, [*map(_begin, jobs), _begin(missing)])
    assert [s.job["id"] for s in starts[:-1] if s.job] == [j.job_id for j in jobs]
    assert all(s.run_id is not None and not s.processed and s.live is None for s in starts[:-1])
    assert starts[-1].job is None and starts[-1].run_id is None
    runs = await pool.fetch("SELECT job_id, id FROM stage_runs")
    assert {r["job_id"]: r["id"] for r in runs} == {
        j.job_id: s.run_id for j, s in zip(jobs, starts, strict=False)
    }
    statuses = await pool.fetch("SELECT DISTINCT status FROM jobs")
    assert [r["status"] for r in statuses] == ["analyzing"]


async def test_two_deliveries_of_one_event_in_a_batch_start_one_run(pool) -> None:
    (job,) = await _jobs(pool, 1)
    first, second = await db.begin_stage_runs(pool, [_begin(job), _begin(job)])
    assert first.run_id is not None and first.live is None
    assert second.run_id is None and second.live is not None
    assert second.live.id == first.run_id and second.live.owner == OWNER


async def test_a_batch_of_commits_writes_each_outcome_and_spots_the_duplicate(pool) -> None:
    jobs = await _jobs(pool, 6)
    starts = await db.begin_stage_runs(pool, [_begin(j) for j in jobs])
    done = await db.commit_stage_runs(pool, [_commit(jobs[0], starts[0].run_id)])
    assert not done[0].duplicate
    # jobs[0] again (a second delivery that also ran), and the five others.
    commits = [_commit(j, s.run_id) for j, s in zip(jobs, starts, strict=True)]
    results = await db.commit_stage_runs(pool, commits)
    assert results[0].duplicate and results[0].rows == []
    for job, result in zip(jobs[1:], results[1:], strict=True):
        assert not result.duplicate and result.moved
        assert [r.routing_key for r in result.rows] == ["job.failed"]
        assert json.loads(result.rows[0].body)["job_id"] == str(job.job_id)
    files = await pool.fetch("SELECT job_id, content FROM artifacts")
    assert {r["job_id"]: r["content"] for r in files} == {
        j.job_id: f"FROM scratch # {j.job_id}" for j in jobs
    }
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE status = 'failed'") == 6
    assert await pool.fetchval("SELECT count(*) FROM processed_messages") == 6


async def test_one_bad_commit_in_a_batch_fails_only_itself(pool) -> None:
    jobs = await _jobs(pool, 5)
    starts = await db.begin_stage_runs(pool, [_begin(j) for j in jobs])
    commits = [_commit(j, s.run_id) for j, s in zip(jobs, starts, strict=True)]
    # A path too long for the artifacts index: PostgreSQL refuses that commit.
    commits[2].artifacts = {"".join(uuid.uuid4().hex for _ in range(400)): "refused"}
    batcher: Batcher[db.StageCommit, db.CommitResult] = Batcher(
        lambda cs: db.commit_stage_runs(pool, cs), split_on=(asyncpg.PostgresError,)
    )
    results = await asyncio.gather(*(batcher.submit(c) for c in commits), return_exceptions=True)
    assert isinstance(results[2], asyncpg.PostgresError)
    assert all(isinstance(r, db.CommitResult) and r.moved for i, r in enumerate(results) if i != 2)
    failed = await pool.fetch("SELECT id FROM jobs WHERE status = 'failed'")
    assert {r["id"] for r in failed} == {j.job_id for i, j in enumerate(jobs) if i != 2}
    # All five went as one batch, which the bad line spoiled; split, four committed.
    assert (batcher.batches, batcher.items) == (1, 5)


async def test_batches_over_the_same_jobs_in_opposite_orders_do_not_deadlock(pool) -> None:
    jobs = await _jobs(pool, 30)
    for round_ in range(10):
        forward = [_begin(j, status=f"s{round_}a", stage=f"a{round_}") for j in jobs]
        backward = [_begin(j, status=f"s{round_}b", stage=f"b{round_}") for j in reversed(jobs)]
        a, b = await asyncio.gather(
            db.begin_stage_runs(pool, forward), db.begin_stage_runs(pool, backward)
        )
        assert all(s.run_id is not None for s in [*a, *b])
    assert await pool.fetchval("SELECT count(*) FROM stage_runs") == 600


async def test_begins_commit_asynchronously_and_commits_stay_synchronous(pool) -> None:
    (job,) = await _jobs(pool, 1)
    async with pool.acquire() as conn:
        async with conn.transaction():
            (start,) = await db.begin_stage_runs(conn, [_begin(job)])
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
        # Only that transaction: the connection's next one flushes its commit again.
        async with conn.transaction():
            await db.commit_stage_runs(conn, [_commit(job, start.run_id)])
            assert await conn.fetchval("SHOW synchronous_commit") == "on"


async def test_a_commit_whose_run_was_lost_writes_nothing(pool) -> None:
    """A database crash may lose an asynchronously committed begin: the commit says so."""
    jobs = await _jobs(pool, 3)
    starts = await db.begin_stage_runs(pool, [_begin(j) for j in jobs])
    await pool.execute("DELETE FROM stage_runs WHERE id = $1", starts[1].run_id)
    results = await db.commit_stage_runs(
        pool, [_commit(j, s.run_id) for j, s in zip(jobs, starts, strict=True)]
    )
    assert [r.lost for r in results] == [False, True, False]
    assert results[1].rows == [] and not results[1].moved and not results[1].duplicate
    lost = jobs[1].job_id
    assert await pool.fetchval("SELECT status FROM jobs WHERE id = $1", lost) == "analyzing"
    for table in ("processed_messages", "artifacts", "job_logs"):
        column = "event_id" if table == "processed_messages" else "job_id"
        value = jobs[1].event.event_id if table == "processed_messages" else lost
        query = f"SELECT count(*) FROM {table} WHERE {column} = $1"
        assert await pool.fetchval(query, value) == 0, table
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE job_id = $1", lost) == 1
    # A run id that exists but belongs to another job does not count as this run.
    (again,) = await db.begin_stage_runs(pool, [_begin(jobs[1])])
    wrong = await db.commit_stage_runs(pool, [_commit(jobs[1], starts[0].run_id)])
    assert wrong[0].lost
    right = await db.commit_stage_runs(pool, [_commit(jobs[1], again.run_id)])
    assert not right[0].lost and right[0].moved
