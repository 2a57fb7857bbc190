"""Issue 21 point 1: a failure at any step of a delivery ends, or the job completes once.

The real gateway, broker, database and stage runner, with stand-in stages that raise
hostile errors, produce unstorable text, or have a statement refused
(tests/reliability/faulty_standin.py). Each job must reach an ending status within
seconds: ``failed`` with a reason naming the stage (its message in the dead-letter
queue), or ``completed`` with every stage run once. Before issue 21 several of these
jobs stayed ``analyzing`` for ever, parked every 15 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.events import JobRequest, JobRequested
from tests.support.stack import SERVICES, Isolated, Stack, rabbit_api

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STAGES = SERVICES[1:]
FAST = {
    "MAX_RETRIES": "2",
    "RETRY_BASE_DELAY_MS": "100",
    "DELIVERY_LIMIT": "4",
    "STAGE_HEARTBEAT_S": "0.5",
}
BODY = {"repo_url": "https://github.com/pallets/flask"}
# A job that does not end within this long is jammed (before the fix: for ever).
ENDS_WITHIN_S = 30


@pytest.fixture
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Stack]]:
    """Start a stack whose stages are the faulty stand-ins; torn down after."""
    made: list[Stack] = []

    def make(**env: str) -> Stack:
        stack = Stack(
            iso=Isolated.create(),
            workdir=Path(tmp_path_factory.mktemp("stack")),
            env_overrides={**FAST, **env},
            standin=True,
            standin_module="tests.reliability.faulty_standin",
        )
        made.append(stack)
        return stack.start()

    yield make
    for stack in made:
        stack.stop()
        stack.iso.drop()


def _ended(stack: Stack, job_id: str) -> dict[str, Any]:
    started = time.monotonic()
    job = stack.wait_job(job_id, timeout=ENDS_WITHIN_S)
    job["took_s"] = time.monotonic() - started
    return job


def _dead_lettered(stack: Stack, n: int = 1, timeout: float = 10, *, or_more: bool = False) -> None:
    """Wait until the dead-letter queue holds ``n`` messages (the API's counts lag)."""
    deadline = time.monotonic() + timeout
    path = f"/queues/{stack.iso.name}/autodeploy.dead-letter"
    while True:
        found = rabbit_api("GET", path).get("messages", 0)
        if found == n or (or_more and found > n):
            return
        assert time.monotonic() < deadline, f"{found} message(s) in the dead-letter queue, not {n}"
        time.sleep(0.2)


def _assert_readable_failure(job: dict[str, Any], stage: str = "analyzer") -> None:
    assert job["status"] == "failed", job
    assert job["stage"] == stage
    error = job["error"]
    assert "\x00" not in error and "Traceback" not in error and len(error) < 4000, error
    shown = [line["message"] for line in job["logs"] if line["level"] == "error"]
    assert shown and shown[-1].startswith(f"{stage} failed: "), shown


def _no_live_runs(stack: Stack, job_id: str) -> None:
    open_runs = stack.sql(
        "SELECT id FROM stage_runs WHERE job_id = $1::uuid AND finished_at IS NULL", job_id
    )
    assert open_runs == [], "a run of an ended job still counts as working"


def test_a_handler_error_with_nul_bytes_is_retried_then_fails_the_job(fault_stack) -> None:
    # What the issue saw: git's error output (binary, with NUL) in a failed attempt.
    stack = fault_stack()
    job_id = stack.submit(**BODY, description="nul-error")
    job = _ended(stack, job_id)
    _assert_readable_failure(job)
    assert "gave up after 3 attempts" in job["error"]
    assert "git said:" in job["error"] and "early EOF" in job["error"]
    assert "\ufffd" in job["error"]  # the NUL shows as the replacement character
    assert sum("retrying in" in line["message"] for line in job["logs"]) == 2
    _dead_lettered(stack)
    _no_live_runs(stack, job_id)
    assert not any("still works on this event" in line["message"] for line in job["logs"])


def test_a_permanent_error_with_nul_bytes_fails_at_once(fault_stack) -> None:
    stack = fault_stack()
    job_id = stack.submit(**BODY, description="nul-permanent")
    job = _ended(stack, job_id)
    _assert_readable_failure(job)
    assert job["error"].startswith("git said: \ufffd") and "retrying" not in str(job["logs"])
    _no_live_runs(stack, job_id)


def test_unstorable_text_in_a_result_is_cleaned_and_the_job_completes_once(fault_stack) -> None:
    stack = fault_stack()
    job_id = stack.submit(**BODY, description="nul-text")
    job = _ended(stack, job_id)
    assert job["status"] == "completed", job["error"]
    runs = stack.sql(
        "SELECT stage, outcome FROM stage_runs WHERE job_id = $1::uuid ORDER BY id", job_id
    )
    assert [r["stage"] for r in runs] == list(STAGES), runs
    analysis = stack.sql("SELECT analysis FROM jobs WHERE id = $1::uuid", job_id)[0]["analysis"]
    stored = json.loads(analysis)
    assert stored["framework"] == "fla\ufffdsk\ufffd"
    assert "k\ufffd" in stored
    line = next(x for x in job["logs"] if x["message"].startswith("analyzer: read"))
    assert "\x00" not in line["message"] and "early EOF" in line["message"]
    assert line["fields"]["literal"] == "\\u0000"  # a backslash and 'u0000' are kept as text


def test_a_commit_postgresql_refuses_ends_in_failed_and_dead_lettered(fault_stack) -> None:
    # A real refusal: an artifact path too long for the artifacts index.
    stack = fault_stack()
    job_id = stack.submit(**BODY, description="huge-key")
    job = _ended(stack, job_id)
    _assert_readable_failure(job)
    assert "the analyzer's result could not be stored" in job["error"], job["error"]
    assert "index row" in job["error"]
    _dead_lettered(stack)
    _no_live_runs(stack, job_id)


def test_when_even_the_failure_cannot_be_committed_the_job_still_fails(fault_stack) -> None:
    # Every commit statement of the analyzer is refused, the failure's own included.
    stack = fault_stack(STANDIN_FAULT="analyzer:commit")
    job_id = stack.submit(**BODY, description="any job")
    job = _ended(stack, job_id)
    _assert_readable_failure(job)
    assert "recording that failed too" in job["error"] and "0x00" in job["error"]
    _dead_lettered(stack)
    _no_live_runs(stack, job_id)
    failed = stack.sql("SELECT count(*) AS n FROM outbox WHERE job_id = $1::uuid", job_id)
    assert failed[0]["n"] <= 1  # the job.failed event, until the relay deletes it


def test_a_begin_refused_every_time_ends_through_the_delivery_limit(fault_stack) -> None:
    stack = fault_stack(STANDIN_FAULT="analyzer:begin")
    job_id = stack.submit(**BODY, description="any job")
    job = _ended(stack, job_id)
    assert job["status"] == "failed" and job["stage"] == "analyzer", job
    assert "dead-lettered" in job["error"]
    # Each copy of the event (the gateway's relay may publish one twice) is dead-lettered.
    _dead_lettered(stack, or_more=True)


def test_a_run_cut_off_by_a_database_outage_is_closed_and_its_redelivery_runs(
    fault_stack,
) -> None:
    # Not a failed attempt (the database was away), but the run is over: closed once
    # the database answers, so the redelivery runs at once instead of parking behind it.
    stack = fault_stack(STANDIN_FAULT="analyzer:outage", STAGE_HEARTBEAT_S="2")
    job_id = stack.submit(**BODY, description="any job")
    job = _ended(stack, job_id)
    assert job["status"] == "completed", job["error"]
    assert not any("still works on this event" in x["message"] for x in job["logs"])
    runs = stack.sql(
        "SELECT outcome, delivery FROM stage_runs WHERE job_id = $1::uuid AND stage = 'analyzer' "
        "ORDER BY id",
        job_id,
    )
    assert [(r["outcome"], r["delivery"]) for r in runs] == [("abandoned", 1), ("generating", 2)]
    assert job["took_s"] < 6  # a park would add 3 heartbeats (6 s)


def test_an_ack_lost_after_the_commit_completes_the_job_once(fault_stack) -> None:
    stack = fault_stack(STANDIN_FAULT="analyzer:ack")
    ids = [stack.submit(**BODY, description=f"job {i}") for i in range(5)]
    for job_id in ids:
        assert _ended(stack, job_id)["status"] == "completed"
    runs = stack.sql(
        "SELECT stage, count(*) AS n FROM stage_runs WHERE outcome NOT IN ('duplicate') "
        "GROUP BY stage"
    )
    assert {r["stage"]: r["n"] for r in runs} == dict.fromkeys(STAGES, 5)
    processed = stack.sql("SELECT consumer, count(*) AS n FROM processed_messages GROUP BY 1")
    assert {r["consumer"]: r["n"] for r in processed} == dict.fromkeys(STAGES, 5)
    logs = stack.all_logs()
    assert logs.count("already handled; acking duplicate") == 5, "no ack was lost"


def test_a_run_that_never_ends_cannot_hold_its_redelivery_for_ever(fault_stack) -> None:
    # A run that keeps beating but does not end (a hung handler: 60 s here). A second
    # delivery of its event parks behind it at most STAGE_MAX_PARKS times per attempt.
    stack = fault_stack(STAGE_MAX_PARKS="2", MAX_RETRIES="1", STAGE_HEARTBEAT_S="0.3")
    job_id = stack.submit(**BODY, description="hung sleep=60")
    deadline = time.monotonic() + 10
    while not (
        runs := stack.sql("SELECT event_id FROM stage_runs WHERE job_id = $1::uuid", job_id)
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    request = stack.sql("SELECT request FROM jobs WHERE id = $1::uuid", job_id)[0]["request"]
    again = JobRequested(
        job_id=job_id,
        event_id=runs[0]["event_id"],
        request=JobRequest.model_validate(json.loads(request)),
    )
    rabbit_api(
        "POST",
        f"/exchanges/{stack.iso.name}/amq.default/publish",
        {
            "routing_key": "autodeploy.analyzer",
            "payload": again.model_dump_json(),
            "payload_encoding": "string",
            "properties": {
                "message_id": str(again.event_id),
                "type": again.routing_key,
                "delivery_mode": 2,
                "content_type": "application/json",
            },
        },
    )
    job = _ended(stack, job_id)
    assert job["took_s"] < 20, job["took_s"]
    _assert_readable_failure(job)
    assert "the analyzer's run" in job["error"]
    assert "kept working on this event without ending" in job["error"]
    assert "gave up after 2 attempts" in job["error"]
    _dead_lettered(stack)
