"""Issue 8 point 1: the pipeline keeps every accepted job while its parts fail.

These run the real gateway, broker, database and stage runner; the stages are stand-ins
with trivial work (tests/support/standin.py) so hundreds of jobs pass in seconds. The
broker and database restarts stop the machine's shared servers for a moment: the suite
runs them one at a time, and every test waits until both answer again.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.stack import SERVICES, queue_depth, rabbit_api

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

STAGES = SERVICES[1:]
FAST = {
    "ANALYZER_CONCURRENCY": "8",
    "GENERATOR_CONCURRENCY": "8",
    "PROVISIONER_CONCURRENCY": "8",
    "VERIFIER_CONCURRENCY": "8",
    "STANDIN_DELAY_S": "0.02",
}
BODY = {"repo_url": "https://github.com/pallets/flask", "description": "stand-in job"}


def _submit_many(stack, n: int) -> list[str]:
    with httpx.Client(timeout=10) as client:
        ids = []
        for _ in range(n):
            response = client.post(f"{stack.url}/request", json=BODY)
            assert response.status_code == 202, response.text
            ids.append(response.json()["job_id"])
        return ids


def _wait_all(stack, ids: list[str], timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        rows = stack.sql("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        statuses = Counter({r["status"]: r["n"] for r in rows})
        done = statuses["completed"] + statuses["failed"]
        if done >= len(ids) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.25)


def _assert_each_job_completed_exactly_once(stack, ids: list[str]) -> None:
    per_stage = stack.sql(
        "SELECT stage, count(*) AS n, count(DISTINCT job_id) AS jobs FROM stage_runs "
        "WHERE outcome NOT IN ('abandoned', 'retry', 'duplicate') GROUP BY stage"
    )
    assert {r["stage"]: (r["n"], r["jobs"]) for r in per_stage} == {
        s: (len(ids), len(ids)) for s in STAGES
    }
    artifacts = stack.sql("SELECT job_id, count(*) AS n FROM artifacts GROUP BY job_id")
    assert len(artifacts) == len(ids) and {r["n"] for r in artifacts} == {1}
    processed = stack.sql("SELECT consumer, count(*) AS n FROM processed_messages GROUP BY 1")
    assert {r["consumer"]: r["n"] for r in processed} == dict.fromkeys(STAGES, len(ids))


def test_sigkilled_stages_lose_no_job_and_duplicate_no_effect(make_stack) -> None:
    # Slow enough (0.25 s a stage, 4 at a time) that jobs are in flight during the kills.
    stack = make_stack(
        standin=True,
        DELIVERY_LIMIT="50",
        **{**FAST, "STANDIN_DELAY_S": "0.25", **{f"{s.upper()}_CONCURRENCY": "4" for s in STAGES}},
    )
    # Jobs are submitted while the killing goes on, so some are always in flight.
    submitted: list[str] = []
    submitter = threading.Thread(target=lambda: submitted.extend(_submit_many(stack, 200)))
    submitter.start()
    rng = random.Random(20261122)
    kills: Counter[str] = Counter()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        done = stack.sql("SELECT count(*) AS n FROM jobs WHERE status = 'completed'")[0]["n"]
        if done == 200:
            break
        time.sleep(rng.uniform(0.2, 0.6))
        victim = rng.choice(STAGES)
        stack.kill(victim)  # SIGKILL: no cleanup, unacked messages go back to the queue
        kills[victim] += 1
        stack.start_service(victim, wait=False)  # may itself be killed while starting
    submitter.join()
    ids = submitted
    for stage in STAGES:
        stack.wait_ready(stage)
    statuses = _wait_all(stack, ids, timeout=60)
    print(f"\n200 jobs, {sum(kills.values())} SIGKILLs {dict(kills)}: {dict(statuses)}")
    assert statuses == Counter({"completed": len(ids)})
    assert sum(kills.values()) >= 10
    _assert_each_job_completed_exactly_once(stack, ids)


def test_poison_message_is_retried_then_dead_lettered_while_others_flow(make_stack) -> None:
    stack = make_stack(standin=True, MAX_RETRIES="2", RETRY_BASE_DELAY_MS="200", **FAST)
    poison = stack.submit(repo_url=BODY["repo_url"], description="poison pill")
    ids = _submit_many(stack, 20)
    for job_id in ids:
        assert stack.wait_job(job_id, timeout=60)["status"] == "completed"
    job = stack.wait_job(poison, timeout=60)
    assert job["status"] == "failed" and job["stage"] == "analyzer"
    assert "gave up after 3 attempts" in job["error"] and "poison" in job["error"]
    delays = [
        line["message"].split("retrying in ")[1]
        for line in job["logs"]
        if "retrying in" in line["message"]
    ]
    assert delays == ["0.2s", "0.4s"]
    deadline = time.monotonic() + 10
    dead = f"/queues/{stack.iso.name}/autodeploy.dead-letter"
    while rabbit_api("GET", dead).get("messages") != 1:
        assert time.monotonic() < deadline, "the poison message is not in the dead-letter queue"
        time.sleep(0.3)


def _ctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout.strip()


@contextmanager
def _broker_settings(**values: int) -> Iterator[None]:
    """Set the local broker's `rabbit` application settings; put the old ones back after.

    They apply to channels opened meanwhile. (RabbitMQ 3.10 has no per-queue consumer
    timeout; `channel_tick_interval` is how often a channel looks at its timeouts.)
    """
    old = {key: _ctl("eval", f"application:get_env(rabbit, {key}).") for key in values}
    try:
        for key, value in values.items():
            _ctl("eval", f"application:set_env(rabbit, {key}, {value}).")
        yield
    finally:
        for key, was in old.items():
            if was.startswith("{ok,"):  # {ok,Value}: set Value back exactly
                _ctl("eval", f"application:set_env(rabbit, {key}, {was[4:-1]}).")
            else:
                _ctl("eval", f"application:unset_env(rabbit, {key}).")


def _consumers(stack) -> dict[str, int]:
    queues = rabbit_api("GET", f"/queues/{stack.iso.name}")
    return {q["name"]: q.get("consumers", 0) for q in queues}


def _wait_rabbit_api(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            rabbit_api("GET", "/overview")
            return
        except Exception:
            assert time.monotonic() < deadline, "the management API did not come back"
            time.sleep(0.5)


@pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None,
    reason="needs the local RabbitMQ's rabbitmqctl to stop and start the broker",
)
def test_broker_restart_mid_run_loses_no_job(make_stack) -> None:
    stack = make_stack(standin=True, **{**FAST, "STANDIN_DELAY_S": "0.05"})
    ids = _submit_many(stack, 100)
    time.sleep(0.5)
    _ctl("stop_app")
    try:
        # Accepted while the broker is down: stored with its event in the outbox.
        ids += _submit_many(stack, 10)
        time.sleep(2)
    finally:
        _ctl("start_app")
        _wait_rabbit_api()
    statuses = _wait_all(stack, ids, timeout=120)
    assert statuses == Counter({"completed": len(ids)}), statuses
    # The management API's consumer counts lag the broker's own state by a few seconds.
    deadline = time.monotonic() + 30
    while True:
        consumers = _consumers(stack)
        if all(consumers.get(f"autodeploy.{s}", 0) >= 1 for s in STAGES):
            break
        assert time.monotonic() < deadline, f"consumers did not come back: {consumers}"
        time.sleep(1)
    _assert_each_job_completed_exactly_once(stack, ids)


@pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None,
    reason="needs the local PostgreSQL's pg_ctlcluster to restart the server",
)
def test_database_restart_mid_run_answers_503_and_loses_no_job(make_stack) -> None:
    stack = make_stack(standin=True, **FAST)
    ids = _submit_many(stack, 60)
    answers: Counter[int] = Counter()
    accepted: list[str] = []
    restart = subprocess.Popen(
        ["bash", "-c", "sleep 0.3; " + " ".join(_pg_restart_cmd())],
    )
    with httpx.Client(timeout=10) as client:
        while restart.poll() is None:
            try:
                response = client.post(f"{stack.url}/request", json=BODY)
            except httpx.HTTPError:
                continue
            answers[response.status_code] += 1
            if response.status_code == 202:
                accepted.append(response.json()["job_id"])
            time.sleep(0.02)
    assert restart.returncode == 0
    assert set(answers) <= {202, 503}, answers
    ids += accepted
    statuses = _wait_all(stack, ids, timeout=120)
    print(f"\nduring the restart: {dict(answers)}; after: {dict(statuses)}")
    assert statuses == Counter({"completed": len(ids)}), statuses
    # Every 202 is a stored job: none answered without its row.
    stored = {str(r["id"]) for r in stack.sql("SELECT id FROM jobs")}
    assert set(ids) <= stored
    _assert_each_job_completed_exactly_once(stack, ids)


def _pg_restart_cmd() -> list[str]:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]


@pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None,
    reason="needs the local RabbitMQ's rabbitmqctl to lower its consumer timeout",
)
def test_stage_longer_than_the_consumer_timeout_runs_once(make_stack) -> None:
    # The broker takes back a delivery unacked for 2 s (checked every 0.5 s); the
    # stand-in analyzer works 8 s on the long job, so it is redelivered mid-run.
    with _broker_settings(consumer_timeout=2000, channel_tick_interval=500):
        stack = make_stack(standin=True, STAGE_HEARTBEAT_S="0.5", **FAST)
        long_job = stack.submit(repo_url=BODY["repo_url"], description="long job sleep=8")
        others = _submit_many(stack, 10)
        job = stack.wait_job(long_job, timeout=90)
        statuses = _wait_all(stack, [long_job, *others], timeout=60)
    assert job["status"] == "completed", job["error"]
    assert statuses == Counter({"completed": 11}), statuses

    lines = stack.sql("SELECT message FROM job_logs WHERE job_id = $1::uuid ORDER BY id", long_job)
    messages = [r["message"] for r in lines]
    print("\n" + "\n".join(messages))
    # The broker did take the delivery back while the stage worked ...
    parked = [m for m in messages if "still works on this event" in m]
    assert parked, "the consumer timeout never fired: the test proves nothing"
    # ... and the stage's work ran once: no second run, nothing superseded, one hand-on.
    assert sum("stand-in working 8s" in m for m in messages) == 1, messages
    runs = stack.sql(
        "SELECT stage, outcome, delivery FROM stage_runs WHERE job_id = $1::uuid ORDER BY id",
        long_job,
    )
    assert [(r["stage"], r["outcome"]) for r in runs] == [
        ("analyzer", "generating"),
        ("generator", "provisioning"),
        ("provisioner", "verifying"),
        ("verifier", "completed"),
    ], runs
    processed = stack.sql(
        "SELECT consumer FROM processed_messages p JOIN stage_runs r USING (event_id) "
        "WHERE r.job_id = $1::uuid",
        long_job,
    )
    assert sorted(r["consumer"] for r in processed) == sorted(STAGES)
    # Nothing was dead-lettered on the way.
    assert queue_depth(stack.iso.name, "autodeploy.dead-letter") == 0


def test_a_run_whose_begin_was_lost_is_handed_back_and_runs_again(make_stack) -> None:
    # Stage begins commit asynchronously, so a database crash may lose one. The stand-in
    # analyzer deletes its own run row on the first delivery to stand for that crash.
    stack = make_stack(standin=True, **FAST)
    job_id = stack.submit(repo_url=BODY["repo_url"], description="lose-run then carry on")
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "completed", job["error"]
    runs = stack.sql(
        "SELECT stage, outcome, delivery FROM stage_runs WHERE job_id = $1::uuid ORDER BY id",
        job_id,
    )
    # The first delivery committed nothing; the redelivery ran the analyzer again.
    assert [(r["stage"], r["outcome"], r["delivery"]) for r in runs] == [
        ("analyzer", "generating", 2),
        ("generator", "provisioning", 1),
        ("provisioner", "verifying", 1),
        ("verifier", "completed", 1),
    ], runs
    logs = stack.sql("SELECT message FROM job_logs WHERE job_id = $1::uuid", job_id)
    assert sum("stand-in analysis" in r["message"] for r in logs) == 1, logs
