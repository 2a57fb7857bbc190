"""Pipeline throughput and per-job overhead, beside a raw aio-pika chain and a Celery chain.

Throughput (issue 9 row 2): ``--jobs`` jobs are POSTed to the gateway (16 keep-alive
connections of the lean client in `bench/loadgen.py`, so the load costs the shared cores little)
and go through the four stand-in stages (`tests/support/standin.py`: the real runner,
broker, outbox and database; stage work of zero duration), quorum queues, publisher
confirms and persistent messages on. Jobs/s is jobs / (first POST → last job `completed`,
seen in the database). Side by side in each round, on the same broker:

- **raw aio-pika chain** (`bench/baselines/aiopika_chain.py`): the same number of hops
  (5 confirmed publishes, 4 stage processes with manual acks, same prefetch), no database;
- **Celery chain** (`bench/baselines/celery_chain.py`): a 5-task chain doing the stages'
  PostgreSQL writes (job row updates, a log line per stage), 4 prefork processes.

One stand-in stage is sampled with py-spy during the first round (``--profile``) and the
CPU it spends is summarised by library.

Overhead (issue 9 row 3): one job at a time through the same stack; request → `completed`
as the client sees it and as the database records it (created_at → finished_at), with the
hand-offs between stages taken from `stage_runs`; beside it, one message at a time through
the raw chain. The client is the lean one: its clock starts as the POST's bytes are written,
and stops when a probe trigger in the bench's database notifies it that the job's
`completed` status committed (`_PROBE`). Until 2026-12-03 it posted with httpx and polled
the job row every millisecond; on the same code, alternating job by job, that read
p50 25.3-25.8 ms where this reads 21.1-21.7 ms: the old client and its polling took about
2.6 ms more CPU per job (the client's and PostgreSQL's) from the two cores the pipeline
runs on, and a poll found `completed` up to a millisecond late.

    .venv/bin/python bench/pipeline_bench.py            # 3 x 2,000 jobs; 3 x 200 single jobs
    .venv/bin/python bench/pipeline_bench.py --smoke    # 1 x 40 jobs; 1 x 10 single jobs
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import hops  # noqa: E402
from bench.baselines import aiopika_chain  # noqa: E402
from bench.baselines.common import (  # noqa: E402
    cpu_seconds,
    machine,
    percentile,
    pids_named,
    process_tree,
    spread,
    table,
)
from bench.loadgen import LeanClient, post_many  # noqa: E402
from tests.support.stack import SERVICES, Isolated, Stack, free_port  # noqa: E402

BENCH_HOST = "git.bench.invalid"
BODY = {
    "repo_url": f"https://{BENCH_HOST}/team/app",
    "description": "deploy this Flask app, it needs a Postgres",
}
STAGES = SERVICES[1:]
TARGET_RAW = 0.5
TARGET_CELERY = 2.0
TARGET_P50_MS = 25.0
TARGET_P99_MS = 100.0


@dataclass
class Systems:
    """Everything under test, up for the whole run."""

    stack: Stack
    iso: Isolated
    iso_celery: Isolated
    raw_stages: list[subprocess.Popen[bytes]] = field(default_factory=list)
    celery: subprocess.Popen[bytes] | None = None


# --- autodeploy -----------------------------------------------------------------------


async def _completed(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE status = 'completed') AS done, "
        "count(*) FILTER (WHERE status IN ('failed', 'rejected')) AS bad FROM jobs"
    )
    assert row is not None
    return int(row["done"]), int(row["bad"])


async def _wait_for(dsn: str, target: int, timeout: float) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, bad = await _completed(conn)
            if bad:
                raise RuntimeError(f"{bad} bench jobs failed")
            if done >= target:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"only {done}/{target} jobs completed after {timeout}s")
    finally:
        await conn.close()


async def _autodeploy_round(stack: Stack, jobs: int, in_flight: int = 16) -> float:
    conn = await asyncpg.connect(stack.iso.database_url)
    before, _ = await _completed(conn)
    await conn.close()
    started = time.perf_counter()
    waiting = asyncio.create_task(
        _wait_for(stack.iso.database_url, before + jobs, timeout=60 + jobs / 5)
    )
    await post_many(stack.url, "/request", BODY, jobs, in_flight=in_flight)
    await waiting
    return time.perf_counter() - started


def autodeploy_round(stack: Stack, jobs: int) -> float:
    """Seconds for ``jobs`` jobs from first POST to last `completed`."""
    return asyncio.run(_autodeploy_round(stack, jobs))


# The bench's probe, in the bench's own database only: a job reaching an ending status
# notifies the client as its transaction commits, so the client neither polls (which
# took CPU from the two cores the pipeline runs on) nor learns late by up to a poll
# interval.
_PROBE = """
CREATE FUNCTION bench_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_job_ended', NEW.id::text || ' ' || NEW.status);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_job_ended AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'rejected')) EXECUTE FUNCTION bench_job_ended();
"""
_UNPROBE = "DROP TRIGGER bench_job_ended ON jobs; DROP FUNCTION bench_job_ended();"


class _Endings:
    """When each job's ending status was committed, as the probe tells (perf_counter)."""

    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, tuple[float, str]] = {}
        self._changed = asyncio.Event()

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        job_id, status = payload.split()
        self._seen[uuid.UUID(job_id)] = (time.perf_counter(), status)
        self._changed.set()

    async def wait(self, job_id: uuid.UUID) -> float:
        while job_id not in self._seen:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), timeout=30)
        ended, status = self._seen.pop(job_id)
        if status != "completed":
            raise RuntimeError(f"bench job {job_id} {status}")
        return ended


async def _one_job(client: LeanClient, endings: _Endings) -> float:
    started = time.perf_counter()
    status, answer = await client.post()
    if status != 202:
        raise RuntimeError(f"POST /request: {status} {answer[:300]!r}")
    job_id = uuid.UUID(json.loads(answer)["job_id"])
    return (await endings.wait(job_id) - started) * 1000


async def _single_jobs(stack: Stack, jobs: int) -> tuple[list[float], list[float], dict]:
    conn = await asyncpg.connect(stack.iso.database_url)
    await conn.execute(_PROBE)
    endings = _Endings()
    await conn.add_listener("bench_job_ended", endings.on_notify)
    try:
        async with LeanClient(stack.url, "/request", BODY) as client:
            await _one_job(client, endings)  # warm the connection
            first = await conn.fetchval("SELECT clock_timestamp()")
            client_ms = [await _one_job(client, endings) for _ in range(jobs)]
    finally:
        await conn.remove_listener("bench_job_ended", endings.on_notify)
        await conn.execute(_UNPROBE)
    rows = await conn.fetch(
        "SELECT j.id, j.created_at, j.finished_at, r.stage, r.started_at, "
        "r.finished_at AS run_finished FROM jobs j JOIN stage_runs r ON r.job_id = j.id "
        "WHERE j.created_at > $1",
        first,
    )
    await conn.close()
    per_job: dict[uuid.UUID, dict] = collections.defaultdict(dict)
    for r in rows:
        job = per_job[r["id"]]
        job["created"], job["finished"] = r["created_at"], r["finished_at"]
        job[r["stage"]] = (r["started_at"], r["run_finished"])
    server_ms = [(j["finished"] - j["created"]).total_seconds() * 1000 for j in per_job.values()]
    segments: dict[str, list[float]] = collections.defaultdict(list)
    for j in per_job.values():
        previous, where = j["created"], "gateway commit"
        for stage in STAGES:
            start, end = j[stage]
            segments[f"{where} → {stage} started"].append((start - previous).total_seconds() * 1000)
            segments[f"{stage} started → committed"].append((end - start).total_seconds() * 1000)
            previous, where = end, f"{stage} committed"
    return client_ms, server_ms, segments


def single_jobs(stack: Stack, jobs: int) -> tuple[list[float], list[float], dict]:
    """Client-seen and database-recorded latencies (ms) of one-at-a-time jobs, and hops."""
    return asyncio.run(_single_jobs(stack, jobs))


def wire_hops(systems: Systems, workdir: Path, jobs: int) -> str:
    """Row 3's hops read off the loopback (`bench.hops`), in a round of their own.

    Single jobs, then single raw-chain messages, while tcpdump records; not in the
    measured rounds, so the capture's own cost is in none of row 3's figures.
    """
    reason = hops.available()
    if reason is not None:
        return f"Where one hop's time goes on the wire: left out ({reason})."
    raw_names = [f"raw stage {n}" for n in range(1, len(systems.raw_stages) + 1)]
    groups = {name: proc.pid for name, proc in systems.stack.procs.items()}
    groups.update({name: p.pid for name, p in zip(raw_names, systems.raw_stages, strict=True)})
    with hops.capture(groups, workdir) as captured:
        single_jobs(systems.stack, jobs)
        asyncio.run(aiopika_chain.run_one_at_a_time(systems.iso.amqp_url, jobs))
    by_stage = hops.stage_hops(captured.segments, STAGES)
    return (
        f"Where one hop's time goes on the wire ({jobs} more single jobs and raw messages, "
        "tcpdump on the loopback, `bench/hops.py`): between *sent* and *answered* is "
        "PostgreSQL's part, between *published* and *delivered* RabbitMQ's, the rest the "
        "stage's own work.\n\n"
        + hops.hop_table(by_stage, hops.raw_hops(captured.segments, raw_names))
    )


# --- CPU per job ----------------------------------------------------------------------

SHARED_SERVERS = ("PostgreSQL (every backend)", "RabbitMQ (beam.smp)")


def cpu_groups(procs: dict[str, subprocess.Popen[bytes]]) -> dict[str, Callable[[], list[int]]]:
    """The processes to account CPU to: the system's own, the servers, this load generator.

    Listed afresh at each reading: a pool may open PostgreSQL backends mid-round.
    """
    groups: dict[str, Callable[[], list[int]]] = {
        name: functools.partial(process_tree, proc.pid) for name, proc in procs.items()
    }
    groups[SHARED_SERVERS[0]] = functools.partial(pids_named, "postgres")
    groups[SHARED_SERVERS[1]] = functools.partial(pids_named, "beam.smp")
    groups["load generator (this process)"] = lambda: [os.getpid()]
    return groups


@contextmanager
def cpu_used(
    groups: dict[str, Callable[[], list[int]]], into: dict[str, list[float]]
) -> Iterator[None]:
    """Append each group's CPU seconds over the block to ``into[group]``.

    A process that started during the block counts all its CPU; one that ended is lost.
    """
    before = {name: cpu_seconds(pids()) for name, pids in groups.items()}
    yield
    for name, pids in groups.items():
        after = cpu_seconds(pids())
        used = sum(t - before[name].get(pid, 0.0) for pid, t in after.items())
        into.setdefault(name, []).append(used)


def cpu_table(cpu: dict[str, dict[str, list[float]]], jobs: int) -> str:
    """CPU ms per job, by process group, for each path (median over the measured rounds)."""
    names = list(dict.fromkeys(n for groups in cpu.values() for n in groups))
    rows = []
    for name in [*names, "total"]:
        row: list[object] = [name]
        for groups in cpu.values():
            if name == "total":
                per_round = [sum(r) for r in zip(*groups.values(), strict=True)]
            else:
                per_round = groups.get(name, [])
            row.append(f"{statistics.median(per_round) / jobs * 1000:.2f}" if per_round else "")
        rows.append(row)
    return table(["CPU ms per job", *cpu], rows)


def batch_totals(urls: list[str]) -> dict[tuple[str, str], tuple[float, float]]:
    """(service, statement) → (statements, batches) so far, from each process's /metrics."""
    totals: dict[tuple[str, str], tuple[float, float]] = {}
    for url in urls:
        text = httpx.get(url, timeout=10).text
        for family in text_string_to_metric_families(text):
            if family.name != "autodeploy_batch_size":
                continue
            for sample in family.samples:
                key = (sample.labels.get("service", ""), sample.labels.get("statement", ""))
                summed, count = totals.get(key, (0.0, 0.0))
                if sample.name.endswith("_sum"):
                    summed = sample.value
                elif sample.name.endswith("_count"):
                    count = sample.value
                totals[key] = (summed, count)
    return totals


def batch_table(
    before: dict[tuple[str, str], tuple[float, float]],
    after: dict[tuple[str, str], tuple[float, float]],
) -> str:
    """Mean statements per round trip over the throughput rounds (group commit at work)."""
    rows = []
    for key, (summed, count) in sorted(after.items()):
        s0, c0 = before.get(key, (0.0, 0.0))
        if count > c0:
            rows.append([*key, f"{count - c0:.0f}", f"{(summed - s0) / (count - c0):.1f}"])
    return table(["process", "statement", "round trips", "statements per round trip"], rows)


# --- baselines ------------------------------------------------------------------------


def start_raw_chain(iso: Isolated, prefetch: int) -> list[subprocess.Popen[bytes]]:
    """Declare the chain's queues and start its four stage processes."""
    asyncio.run(aiopika_chain.declare(iso.amqp_url))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.baselines.aiopika_chain",
                iso.amqp_url,
                str(n),
                str(prefetch),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for n in range(1, aiopika_chain.HOPS + 1)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if b'"ready": true' not in proc.stdout.readline():
            raise RuntimeError("raw aio-pika stage did not start")
    return procs


def start_celery(iso: Isolated, workdir: Path, concurrency: int) -> subprocess.Popen[bytes]:
    """Start one Celery worker (prefork) and wait until it consumes."""
    ready = workdir / "celery.ready"
    log = (workdir / "celery.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.baselines.celery_chain",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=_celery_env(iso, ready),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"celery worker did not start:\n{(workdir / 'celery.log').read_text()}"
            )
        time.sleep(0.1)
    return proc


def _celery_env(iso: Isolated, ready: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_AMQP_URL": iso.amqp_url,
        "BENCH_DATABASE_URL": iso.database_url,
    }
    if ready is not None:
        env["BENCH_READY_FILE"] = str(ready)
    return env


def celery_round(iso: Isolated, jobs: int) -> float:
    """Seconds for ``jobs`` Celery chains from first publish to last `completed`."""
    os.environ.update(_celery_env(iso))
    from bench.baselines import celery_chain

    celery_chain.app.conf.broker_url = iso.amqp_url

    async def run() -> float:
        conn = await asyncpg.connect(iso.database_url)
        before, _ = await _completed(conn)
        await conn.close()
        started = time.perf_counter()
        waiting = asyncio.create_task(_wait_for(iso.database_url, before + jobs, 60 + jobs / 5))
        await asyncio.to_thread(celery_chain.submit, jobs)
        await waiting
        return time.perf_counter() - started

    return asyncio.run(run())


# --- profile --------------------------------------------------------------------------

CATEGORIES = (
    ("asyncpg (PostgreSQL protocol)", ("asyncpg",)),
    ("aio-pika / aiormq / pamqp (AMQP)", ("aio_pika", "aiormq", "pamqp")),
    ("pydantic (event parse / dump)", ("pydantic",)),
    ("logging + json + redaction", ("logging/", "json/", "shared/logs.py", "shared/security.py")),
    ("asyncio / uvloop event loop", ("asyncio/", "uvloop")),
    ("prometheus_client", ("prometheus_client",)),
    ("autodeploy runner/relay/db code", ("shared/",)),
)


def _category(frame: str) -> str:
    for name, needles in CATEGORIES:
        if any(n in frame for n in needles):
            return name
    return "other (stdlib, uuid, datetime…)"


@contextmanager
def profiled(pid: int, out: Path, rate: int = 200) -> Iterator[None]:
    """py-spy record a process (CPU-active samples only) while the block runs."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)
    started = time.monotonic()
    try:
        yield
    finally:
        elapsed = time.monotonic() - started
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        out.with_suffix(".meta").write_text(f"{elapsed} {rate}\n{err.decode(errors='replace')}")


def profile_report(out: Path, stage: str) -> str:
    """Where one stage's CPU went, by library (leaf frame) and by code path (inclusive)."""
    if not out.exists():
        return f"(no profile: {out.with_suffix('.meta').read_text()[-500:]})"
    elapsed, rate = (float(x) for x in out.with_suffix(".meta").read_text().split()[:2])
    leaf: collections.Counter[str] = collections.Counter()
    funcs: collections.Counter[str] = collections.Counter()
    paths: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        leaf[_category(frames[-1])] += n
        funcs[frames[-1]] += n
        joined = ";".join(frames)
        # The runner's commit passes through the relay (it deletes published rows), so
        # the runner is checked first; the relay's own publishing runs in tasks of its own.
        if "shared/stage.py" in joined:
            paths["stage runner (parse, dedupe, job reads/writes, commit, ack)"] += n
            if "shared/logs.py" in joined:
                paths["  of which JobLog (stdout JSON line + job_logs INSERT)"] += n
        elif "shared/outbox.py" in joined:
            paths["outbox relay (publish + confirm; the poll's SELECT … FOR UPDATE)"] += n
        else:
            paths["elsewhere (connection I/O callbacks, metrics, loop)"] += n
    if not total:
        return "(profile has no samples)"
    lines = [
        f"py-spy on the {stage} stand-in: {total} CPU samples at {rate:.0f} Hz over "
        f"{elapsed:.1f} s ≈ {total / rate / elapsed:.0%} of one core busy.",
        "",
        table(
            ["where the CPU went (leaf frame)", "share"],
            [(k, f"{v / total:.0%}") for k, v in leaf.most_common()],
        ),
        "",
        table(
            ["code path (inclusive)", "share"],
            [(k, f"{v / total:.0%}") for k, v in sorted(paths.items())],
        ),
        "",
        table(
            ["hottest functions (self)", "share"],
            [(k.replace("|", "/"), f"{v / total:.1%}") for k, v in funcs.most_common(8)],
        ),
    ]
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run throughput rounds, the profile and the one-at-a-time runs; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="tiny run; targets not enforced")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--prefetch", type=int, default=16, help="every stage's prefetch")
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--celery-concurrency", type=int, default=4)
    parser.add_argument(
        "--profile", default="generator", choices=[*STAGES, "none"], help="stage to py-spy"
    )
    args = parser.parse_args(argv)
    runs, jobs, latency_jobs = (
        (1, 40, 10) if args.smoke else (max(3, args.runs), args.jobs, args.latency_jobs)
    )

    times: dict[str, list[float]] = {"autodeploy": [], "raw": [], "celery": []}
    # CPU seconds per process group and round.
    cpu: dict[str, dict[str, list[float]]] = {"autodeploy": {}, "raw": {}, "celery": {}}
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        workdir = Path(tmp)
        iso, iso_celery = Isolated.create(), Isolated.create()
        env = {f"{s.upper()}_CONCURRENCY": str(args.prefetch) for s in STAGES}
        env.update(GIT_ALLOWED_HOSTS=BENCH_HOST, GATEWAY_WORKERS=str(args.gateway_workers))
        metrics_ports = {stage: free_port() for stage in STAGES}
        systems = Systems(
            stack=Stack(
                iso=iso,
                workdir=workdir,
                env_overrides=env,
                service_env={s: {"METRICS_PORT": str(p)} for s, p in metrics_ports.items()},
                standin=True,
            ),
            iso=iso,
            iso_celery=iso_celery,
        )
        try:
            systems.stack.start()
            systems.raw_stages = start_raw_chain(iso, args.prefetch)
            systems.celery = start_celery(iso_celery, workdir, args.celery_concurrency)
            # Warm every path once (connections, prepared statements, queues).
            autodeploy_round(systems.stack, 10)
            asyncio.run(aiopika_chain.run_jobs(iso.amqp_url, 10))
            celery_round(iso_celery, 10)
            profile_out = workdir / "profile.txt"
            raw_procs = {f"raw stage {n}": p for n, p in enumerate(systems.raw_stages, 1)}
            groups = {
                "autodeploy": cpu_groups(systems.stack.procs),
                "raw": cpu_groups(raw_procs),
                "celery": cpu_groups({"Celery worker": systems.celery}),
            }
            metrics_urls = [f"{systems.stack.url}/metrics"] + [
                f"http://127.0.0.1:{p}/metrics" for p in metrics_ports.values()
            ]
            batches_before = batch_totals(metrics_urls)
            for n in range(runs):
                # py-spy reads the sampled stage from outside (--nonblocking): its own CPU is
                # not in any group, and the stage runs unpaused.
                with (
                    profiled(systems.stack.procs[args.profile].pid, profile_out)
                    if n == 0 and args.profile != "none"
                    else contextlib.nullcontext(),
                    cpu_used(groups["autodeploy"], cpu["autodeploy"]),
                ):
                    times["autodeploy"].append(autodeploy_round(systems.stack, jobs))
                with cpu_used(groups["raw"], cpu["raw"]):
                    times["raw"].append(asyncio.run(aiopika_chain.run_jobs(iso.amqp_url, jobs)))
                with cpu_used(groups["celery"], cpu["celery"]):
                    times["celery"].append(celery_round(iso_celery, jobs))
            batches = batch_table(batches_before, batch_totals(metrics_urls))
            profile = profile_report(profile_out, args.profile) if args.profile != "none" else ""
            lat_client: list[list[float]] = []
            lat_server: list[list[float]] = []
            lat_raw: list[list[float]] = []
            segments: dict[str, list[float]] = collections.defaultdict(list)
            for _ in range(runs):
                client_ms, server_ms, segs = single_jobs(systems.stack, latency_jobs)
                lat_client.append(client_ms)
                lat_server.append(server_ms)
                for k, v in segs.items():
                    segments[k] += v
                lat_raw.append(
                    asyncio.run(aiopika_chain.run_one_at_a_time(iso.amqp_url, latency_jobs))
                )
            wire = wire_hops(systems, workdir, latency_jobs)
        finally:
            for proc in [*systems.raw_stages, *([systems.celery] if systems.celery else [])]:
                proc.terminate()
                proc.wait(timeout=20)
            systems.stack.stop()
            iso.drop()
            iso_celery.drop()

    rate = {k: [jobs / s for s in v] for k, v in times.items()}
    vs_raw = [a / r for a, r in zip(rate["autodeploy"], rate["raw"], strict=True)]
    vs_celery = [a / c for a, c in zip(rate["autodeploy"], rate["celery"], strict=True)]
    print(
        f"{runs} round(s) of {jobs} jobs; prefetch {args.prefetch} per stage; "
        f"{args.gateway_workers} gateway worker(s); Celery {args.celery_concurrency} prefork "
        f"processes; quorum queues, persistent messages, publisher confirms; {machine()}."
    )
    print()
    print("### Throughput (row 2)")
    print()
    print(
        table(
            ["path", "jobs/s min", "jobs/s median", "jobs/s max"],
            [
                ["autodeploy: gateway + 4 stand-in stages", *spread(rate["autodeploy"])],
                ["raw aio-pika chain, 5 hops, no database", *spread(rate["raw"])],
                ["Celery 5-task chain, same PostgreSQL writes", *spread(rate["celery"])],
            ],
        )
    )
    print()
    med_raw, med_celery = statistics.median(vs_raw), statistics.median(vs_celery)
    print(
        f"- autodeploy / raw aio-pika: {med_raw:.2f}x (rounds {min(vs_raw):.2f}-{max(vs_raw):.2f};"
        f" target ≥ {TARGET_RAW}x)"
    )
    print(
        f"- autodeploy / Celery: {med_celery:.2f}x (rounds {min(vs_celery):.2f}-"
        f"{max(vs_celery):.2f}; target ≥ {TARGET_CELERY}x)"
    )
    print()
    print(
        "Where the CPU goes: user + system CPU of each process group over a round, per job "
        "(median of the rounds). PostgreSQL and RabbitMQ serve "
        "only the path being measured while it runs."
    )
    print()
    print(cpu_table(cpu, jobs))
    print()
    print(
        "Group commit over the autodeploy rounds: statements that arrived together went "
        "in one round trip and one transaction."
    )
    print()
    print(batches)
    if profile:
        print()
        print(profile)
    print()
    print("### Overhead per job, one at a time (row 3)")
    print()

    def lat_row(label: str, runs_ms: list[list[float]]) -> list[object]:
        return [
            label,
            *spread([percentile(r, 50) for r in runs_ms]),
            *spread([percentile(r, 99) for r in runs_ms]),
        ]

    print(
        table(
            ["path", "p50 ms min", "p50 median", "p50 max", "p99 ms min", "p99 median", "p99 max"],
            [
                lat_row("autodeploy, client: POST → sees `completed`", lat_client),
                lat_row("autodeploy, database: created_at → finished_at", lat_server),
                lat_row("raw aio-pika chain, one message", lat_raw),
            ],
        )
    )
    print()
    print(
        table(
            ["where one job's time goes (all runs)", "p50 ms", "p99 ms"],
            [
                (k, f"{percentile(v, 50):.1f}", f"{percentile(v, 99):.1f}")
                for k, v in segments.items()
            ],
        )
    )
    print()
    print(wire)
    p50 = statistics.median(percentile(r, 50) for r in lat_client)
    p99 = statistics.median(percentile(r, 99) for r in lat_client)
    ratio = p50 / statistics.median(percentile(r, 50) for r in lat_raw)
    print()
    print(
        f"- client p50 {p50:.1f} ms (target ≤ {TARGET_P50_MS:.0f}), p99 {p99:.1f} ms "
        f"(target ≤ {TARGET_P99_MS:.0f}); p50 is {ratio:.1f}x the raw chain's"
    )
    missed = []
    if med_raw < TARGET_RAW:
        missed.append(f"autodeploy/raw {med_raw:.2f}x")
    if med_celery < TARGET_CELERY:
        missed.append(f"autodeploy/Celery {med_celery:.2f}x")
    if p50 > TARGET_P50_MS:
        missed.append(f"p50 {p50:.1f} ms")
    if p99 > TARGET_P99_MS:
        missed.append(f"p99 {p99:.1f} ms")
    if args.smoke:
        print("targets: not enforced (smoke)")
        return 0
    print("targets: " + ("MISSED: " + "; ".join(missed) if missed else "met"))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
