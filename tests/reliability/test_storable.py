"""Issue 21 point 2: whatever a stage writes, PostgreSQL takes it, readably and bounded.

Every write of `shared.db` on the real PostgreSQL, fed what its text and jsonb refuse
(NUL, lone surrogates, the ``\\u0000`` escape) and what is too big: the write succeeds,
the unstorable characters read back as U+FFFD, long text ends in a visible marker, and
a job's log stops growing at its cap with one line that counts what was dropped.
"""

from __future__ import annotations

import uuid

import pytest

from shared import db
from shared.events import JobFailed, JobRequest, JobRequested
from shared.storable import LINE_LIMIT, TEXT_LIMIT

pytestmark = pytest.mark.integration

OWNER = "test-host/1/1"
HOSTILE = "a\x00b \udcff c \ud800"
CLEAN = "a\ufffdb \ufffd c \ufffd"


async def _job(pool, description: str = "an app") -> db.NewJob:
    job_id = uuid.uuid4()
    request = JobRequest(repo_url="https://git.example.invalid/team/app", description=description)
    job = db.NewJob(
        job_id, "repository", request.public(), JobRequested(job_id=job_id, request=request)
    )
    await db.insert_jobs(pool, [job])
    return job


async def _run(pool, job: db.NewJob) -> int:
    begin = db.StageBegin(
        job_id=job.job_id,
        stage="analyzer",
        event_id=job.event.event_id,
        delivery=1,
        working_status="analyzing",
        owner=OWNER,
        lease_s=15.0,
    )
    (start,) = await db.begin_stage_runs(pool, [begin])
    assert start.run_id is not None
    return start.run_id


async def test_a_commit_full_of_unstorable_text_is_stored_readably(pool) -> None:
    job = await _job(pool, description=f"described as {HOSTILE}")
    run_id = await _run(pool, job)
    commit = db.StageCommit(
        run_id=run_id,
        job_id=job.job_id,
        event_id=job.event.event_id,
        stage="analyzer",
        outcome="failed",
        status="failed",
        job_stage="analyzer",
        line=db.LogLine("error", f"line {HOSTILE}", {"f": HOSTILE, HOSTILE: ["\\u0000", 1]}),
        ended_line=db.LogLine("warning", "ended", {}),
        finished=True,
        analysis={"evidence": [HOSTILE], "k\x00": {"deep": HOSTILE}},
        merge_result={"note": HOSTILE},
        error=f"error {HOSTILE}",
        artifacts={"notes.txt": f"text {HOSTILE}", "data.bin": b"\x00\x01binary"},
        events=[JobFailed(job_id=job.job_id, stage="analyzer", reason=f"reason {HOSTILE}")],
    )
    (result,) = await db.commit_stage_runs(pool, [commit])
    assert result.moved and len(result.rows) == 1
    row = await db.get_job(pool, job_id=job.job_id)
    assert row is not None
    assert row["error"] == f"error {CLEAN}"
    assert row["analysis"] == {"evidence": [CLEAN], "k\ufffd": {"deep": CLEAN}}
    assert row["result"] == {"note": CLEAN}
    assert row["request"]["description"] == f"described as {CLEAN}"
    (line,) = await db.get_logs(pool, job_id=job.job_id)
    assert line["message"] == f"line {CLEAN}"
    assert line["fields"] == {"f": CLEAN, CLEAN: ["\\u0000", 1]}
    # Files are never cut or altered: what is not storable text is kept as base64.
    files = await db.get_artifact_bytes(pool, job_id=job.job_id)
    assert files["data.bin"] == b"\x00\x01binary"
    assert files["notes.txt"] == f"text {HOSTILE}".encode(errors="replace")
    published = result.rows[0].body.decode()
    assert "\\u0000" not in published and "\\ufffd" in published
    stored = await pool.fetchval(
        "SELECT payload->>'reason' FROM outbox WHERE id = $1", result.rows[0].id
    )
    assert stored == f"reason {CLEAN}"


async def test_every_other_write_takes_unstorable_text(pool) -> None:
    job = await _job(pool)
    await db.add_log(
        pool, job_id=job.job_id, service="s", level="info", message=HOSTILE, fields={"x": HOSTILE}
    )
    await db.set_job(pool, job_id=job.job_id, error=HOSTILE, analysis={"a": HOSTILE})
    row = await db.enqueue(pool, JobFailed(job_id=job.job_id, stage="s", reason=HOSTILE))
    assert b"\\u0000" not in row.body
    (line,) = await db.get_logs(pool, job_id=job.job_id)
    assert (line["message"], line["fields"]) == (CLEAN, {"x": CLEAN})
    stored = await db.get_job(pool, job_id=job.job_id)
    assert stored is not None and (stored["error"], stored["analysis"]) == (CLEAN, {"a": CLEAN})


async def test_the_fallback_failure_statement_takes_unstorable_text(pool) -> None:
    job = await _job(pool)
    run_id = await _run(pool, job)
    event = JobFailed(job_id=job.job_id, stage="analyzer", reason=HOSTILE)
    rows = await db.fail_job(
        pool, job_id=job.job_id, stage="analyzer", reason=HOSTILE, event=event, run_id=run_id
    )
    assert len(rows) == 1
    stored = await db.get_job(pool, job_id=job.job_id)
    assert stored is not None and (stored["status"], stored["error"]) == ("failed", CLEAN)
    assert await pool.fetchval("SELECT outcome FROM stage_runs WHERE id = $1", run_id) == "failed"
    # A job that already ended is left as it is.
    again = await db.fail_job(pool, job_id=job.job_id, stage="x", reason="late", event=event)
    assert again == []


async def test_long_text_is_cut_with_a_marker_saying_how_much(pool) -> None:
    job = await _job(pool)
    await db.add_log(
        pool, job_id=job.job_id, service="s", level="info", message="x" * (LINE_LIMIT + 500)
    )
    await db.set_job(
        pool, job_id=job.job_id, error="y" * (TEXT_LIMIT + 7), result={"z": "z" * (TEXT_LIMIT + 9)}
    )
    (line,) = await db.get_logs(pool, job_id=job.job_id)
    assert line["message"].endswith("… [500 more characters not stored]")
    stored = await db.get_job(pool, job_id=job.job_id)
    assert stored is not None
    assert stored["error"].endswith("… [7 more characters not stored]")
    assert stored["result"]["z"].endswith("… [9 more characters not stored]")


async def test_a_jobs_log_stops_at_its_cap_with_one_marker_counting_the_rest(pool) -> None:
    job = await _job(pool)
    other = await _job(pool)
    lines = [db.LogLine("info", f"line {i}", {}) for i in range(4)]
    for _ in range(3):  # 12 lines offered, 5 fit
        await db.add_logs(pool, job_id=job.job_id, service="s", lines=lines, max_lines=5)
    await db.add_logs(pool, job_id=other.job_id, service="s", lines=lines, max_lines=5)
    stored = await db.get_logs(pool, job_id=job.job_id)
    assert [x["message"] for x in stored[:5]] == ["line 0", "line 1", "line 2", "line 3", "line 0"]
    assert len(stored) == 6, "one marker line, updated, not one per batch"
    marker = stored[5]
    assert (
        marker["level"] == "warning"
        and "7 more lines (42 bytes) were not stored" in marker["message"]
    )
    assert marker["fields"] == {"job_log_full": True, "dropped_lines": 7, "dropped_bytes": 42}
    assert len(await db.get_logs(pool, job_id=other.job_id)) == 4


async def test_a_jobs_log_stops_at_its_byte_cap(pool) -> None:
    job = await _job(pool)
    lines = [db.LogLine("info", "b" * 100, {}) for _ in range(10)]
    await db.add_logs(pool, job_id=job.job_id, service="s", lines=lines, max_bytes=350)
    stored = await db.get_logs(pool, job_id=job.job_id)
    assert len(stored) == 4 and "7 more lines (700 bytes)" in stored[-1]["message"]
