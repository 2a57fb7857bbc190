"""Resident memory of every service, idle and after a throughput run (issue 9 row 6).

Reads VmRSS from /proc/<pid>/status of the Stack's processes (and of the children of a
multi-worker gateway). Three stacks, one after the other, each on its own database and
vhost:

- the real services (`python -m services.<stage>`), idle;
- the stand-in stages, idle, then after each of ``--runs`` rounds of ``--jobs`` jobs
  (`pipeline_bench.autodeploy_round`): growth between rounds would be a leak;
- the baselines: a bare FastAPI worker (`bench/baselines/bare_api.py`) after a burst of
  requests, and a raw aio-pika chain stage after the same number of messages.

    .venv/bin/python bench/memory_bench.py            # 3 rounds of 2,000 jobs
    .venv/bin/python bench/memory_bench.py --smoke    # 1 round of 40 jobs
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pipeline_bench  # noqa: E402

from bench.baselines import aiopika_chain  # noqa: E402
from bench.baselines.common import machine, process_tree, rss_mb, serve_app, spread, table  # noqa: E402
from tests.support.stack import SERVICES, Isolated, Stack, free_port  # noqa: E402

LIMIT_MB = 80.0


def service_rss(stack: Stack) -> dict[str, float]:
    """RSS (MiB) per service; a multi-worker gateway reports its largest process."""
    out: dict[str, float] = {}
    for service in SERVICES:
        pids = process_tree(stack.procs[service].pid)
        sizes = [rss_mb(pid) for pid in pids]
        out[service] = max(sizes)
        if len(pids) > 1:
            out[f"{service} (all {len(pids)} processes)"] = sum(sizes)
    return out


def _stack(workdir: Path, name: str, *, standin: bool, workers: int) -> Stack:
    env = {"GIT_ALLOWED_HOSTS": pipeline_bench.BENCH_HOST, "GATEWAY_WORKERS": str(workers)}
    return Stack(iso=Isolated.create(), workdir=workdir / name, env_overrides=env, standin=standin)


def _bare_rss(requests: int) -> float:
    port = free_port()
    proc = serve_app("bench.baselines.bare_api:app", port)
    try:
        url = f"http://127.0.0.1:{port}/request"
        deadline = time.monotonic() + 30
        with httpx.Client() as client:
            while True:
                try:
                    client.post(url, json=pipeline_bench.BODY)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for _ in range(requests):
                client.post(url, json=pipeline_bench.BODY)
        return rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table; non-zero when a service exceeds the limit (full mode)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="tiny run; limit not enforced")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--gateway-workers", type=int, default=1)
    args = parser.parse_args(argv)
    runs, jobs = (1, 40) if args.smoke else (max(3, args.runs), args.jobs)

    idle_real: dict[str, float] = {}
    idle_standin: list[dict[str, float]] = []
    after: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        workdir = Path(tmp)
        for name, standin in (("real", False), ("standin", True)):
            (workdir / name).mkdir()
            stack = _stack(workdir, name, standin=standin, workers=args.gateway_workers)
            try:
                stack.start()
                time.sleep(2)  # let lazy imports and pool warm-up settle
                if not standin:
                    idle_real = service_rss(stack)
                    continue
                for _ in range(3):
                    idle_standin.append(service_rss(stack))
                    time.sleep(0.5)
                for _ in range(runs):
                    pipeline_bench.autodeploy_round(stack, jobs)
                    after.append(service_rss(stack))
            finally:
                stack.stop()
                stack.iso.drop()
        iso = Isolated.create()
        try:
            raw = pipeline_bench.start_raw_chain(iso, 16)
            try:
                asyncio.run(aiopika_chain.run_jobs(iso.amqp_url, jobs))
                raw_rss = max(rss_mb(p.pid) for p in raw)
            finally:
                for p in raw:
                    p.terminate()
                    p.wait(timeout=10)
        finally:
            iso.drop()
    bare_rss = _bare_rss(min(jobs, 500))

    rows = []
    worst = 0.0
    for key in idle_standin[0]:
        values = [a[key] for a in after]
        single = "all" not in key
        if single:
            worst = max(worst, idle_real.get(key, 0.0), *values)
        rows.append(
            [
                key,
                f"{idle_real.get(key, float('nan')):.1f}",
                f"{min(i[key] for i in idle_standin):.1f}",
                *spread(values),
                f"{values[-1] - values[0]:+.1f}",
                "≤ 80" if single else "",
            ]
        )
    print(
        f"RSS in MiB (VmRSS); {runs} round(s) of {jobs} jobs through the stand-in stages; "
        f"{args.gateway_workers} gateway worker(s); {machine()}."
    )
    print()
    print(
        table(
            [
                "service",
                "real idle",
                "stand-in idle",
                "after min",
                "after median",
                "after max",
                "growth first→last",
                "limit",
            ],
            rows,
        )
    )
    print()
    print(
        table(
            ["baseline process", "RSS MiB"],
            [
                ["bare FastAPI uvicorn worker, after requests", f"{bare_rss:.1f}"],
                [f"raw aio-pika chain stage, after {jobs} messages", f"{raw_rss:.1f}"],
            ],
        )
    )
    print()
    print(
        f"- largest service process: {worst:.1f} MiB (limit {LIMIT_MB:.0f}); "
        f"{worst / bare_rss:.1f}x a bare FastAPI worker, "
        f"{worst / raw_rss:.1f}x a raw aio-pika stage"
    )
    if args.smoke:
        print("limit: not enforced (smoke)")
        return 0
    print("limit: " + ("met" if worst <= LIMIT_MB else f"MISSED ({worst:.1f} MiB)"))
    return 0 if worst <= LIMIT_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
