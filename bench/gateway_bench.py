"""Gateway `POST /request` accepted per second, beside a bare FastAPI endpoint and raw asyncpg.

Four paths, alternating within each round on the same machine:

- **gateway**: `python -m services.gateway` with GATEWAY_WORKERS uvicorn workers; each
  request validates the body, stores the job row and its `job.requested` outbox row in
  one transaction and answers 202. No stage runs: the gateway's own outbox relay keeps
  publishing to RabbitMQ (confirms on) and the analyzer queue is purged between runs, so
  the measured cost includes the relay, as in production.
- **bare FastAPI**: the same route and answer on the same uvicorn (same worker count),
  with no I/O (`bench/baselines/bare_api.py`). The target is set against it.
- **bare ASGI** (no target, for the record): the same answer from a plain ASGI app
  (`bench/baselines/bare_asgi.py`). The gateway answers well-formed submissions without
  FastAPI's per-request layers (`services/gateway/fastpath.py`); this says how far it is
  from an app with no framework at all.
- **raw asyncpg**: the same two INSERTs in one transaction, same total concurrency, split
  over as many processes as there are workers, one pool of 20 per process like the
  gateway's (`bench/baselines/raw_insert.py`), on a database of its own with the same schema.

Load comes from `wrk` (a separate process, a Lua script for the JSON POST).

    .venv/bin/python bench/gateway_bench.py            # 3 rounds of 10 s
    .venv/bin/python bench/gateway_bench.py --smoke    # 1 round of 1 s
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baselines.common import machine, percentile, serve_app, spread, table  # noqa: E402
from tests.support.stack import Isolated, Stack, free_port, rabbit_api  # noqa: E402

# The repository host is allow-listed (GIT_ALLOWED_HOSTS), so the gateway skips its DNS
# check: name resolution is the resolver's speed, not the gateway's. `--resolve` posts a
# github.com URL instead, which puts one getaddrinfo per request back in the path.
BENCH_HOST = "git.bench.invalid"
BODY = {
    "repo_url": f"https://{BENCH_HOST}/team/app",
    "description": "deploy this Flask app, it needs a Postgres",
}
RESOLVED_URL = "https://github.com/autodeploy-bench/app"
TARGET_BARE = 0.30
AIM_RAW = 0.5

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT {\\"requests\\": %%d, \\"us\\": %%d, \\"status_errors\\": %%d, " ..
    "\\"socket_errors\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(url: str, script: Path, *, seconds: int, connections: int) -> dict[str, float]:
    """One wrk run; req/s, p50/p99 (ms) and error counts."""
    proc = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"{url}/request",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("WRK_RESULT "))
    raw = json.loads(line.removeprefix("WRK_RESULT "))
    return {
        "rps": raw["requests"] / (raw["us"] / 1e6),
        "p50": raw["p50_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "errors": raw["status_errors"] + raw["socket_errors"],
    }


def raw_asyncpg(dsn: str, *, seconds: int, connections: int, procs: int) -> dict[str, float]:
    """The raw insert baseline in ``procs`` processes sharing ``connections`` tasks."""
    running = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.baselines.raw_insert",
                "--dsn",
                dsn,
                "--concurrency",
                str(max(1, connections // procs)),
                "--pool",
                "20",
                "--warmup",
                "1",
                "--duration",
                str(seconds),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    results = []
    for proc in running:
        out, _ = proc.communicate(timeout=seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"raw_insert exited {proc.returncode}")
        results.append(json.loads(out))
    latencies = [v for r in results for v in r["latencies_ms"]]
    return {
        "rps": sum(r["count"] for r in results) / seconds,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": 0,
    }


def _wait_accepting(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.post(f"{url}/request", json=BODY, timeout=2).status_code == 202:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not accept POST /request within {timeout}s")


def _drain(iso: Isolated, timeout: float = 60) -> float:
    """Wait for the relay to empty the outbox, then purge the analyzer queue; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if iso.sql("SELECT count(*) AS n FROM outbox")[0]["n"] == 0:
            break
        time.sleep(0.1)
    rabbit_api("DELETE", f"/queues/{iso.name}/autodeploy.analyzer/contents")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the table; non-zero when the bare-ratio target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="one 1 s round; targets not enforced")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--connections", type=int, default=64, help="concurrent requests")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (both apps)")
    parser.add_argument(
        "--resolve", action="store_true", help="post a github.com URL (DNS check per request)"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    runs, seconds, connections = (
        (1, 1, 16) if args.smoke else (max(3, args.runs), args.seconds, args.connections)
    )

    results: dict[str, list[dict[str, float]]] = {"gateway": [], "bare": [], "raw": [], "asgi": []}
    drains: list[float] = []
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        workdir = Path(tmp)
        script = workdir / "post.lua"
        body = dict(BODY, repo_url=RESOLVED_URL) if args.resolve else BODY
        script.write_text(WRK_SCRIPT % json.dumps(body))
        iso = Isolated.create()
        iso_raw = Isolated.create()
        stack = Stack(
            iso=iso,
            workdir=workdir,
            env_overrides={"GATEWAY_WORKERS": str(args.workers), "GIT_ALLOWED_HOSTS": BENCH_HOST},
        )
        bare_port = free_port()
        bare_url = f"http://127.0.0.1:{bare_port}"
        asgi_port = free_port()
        asgi_url = f"http://127.0.0.1:{asgi_port}"
        bare = serve_app("bench.baselines.bare_api:app", bare_port, args.workers)
        asgi = serve_app("bench.baselines.bare_asgi:app", asgi_port, args.workers)
        try:
            stack.start(["gateway"])
            _wait_accepting(stack.url)
            _wait_accepting(bare_url)
            _wait_accepting(asgi_url)
            for _ in range(runs):
                for name, url in (("bare", bare_url), ("gateway", stack.url), ("asgi", asgi_url)):
                    wrk(url, script, seconds=1, connections=connections)  # warm every worker
                    results[name].append(wrk(url, script, seconds=seconds, connections=connections))
                drains.append(_drain(iso))
                results["raw"].append(
                    raw_asyncpg(
                        iso_raw.database_url,
                        seconds=seconds,
                        connections=connections,
                        procs=args.workers,
                    )
                )
            stored = iso.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
        finally:
            for server in (bare, asgi):
                server.terminate()
                server.wait(timeout=10)
            stack.stop()
            iso.drop()
            iso_raw.drop()

    def row(label: str, key: str) -> list[object]:
        rs = results[key]
        return [
            label,
            *spread([r["rps"] for r in rs], "{:.0f}"),
            f"{statistics.median(r['p50'] for r in rs):.1f}",
            f"{statistics.median(r['p99'] for r in rs):.1f}",
            int(sum(r["errors"] for r in rs)),
        ]

    def vs(key: str) -> list[float]:
        return [g["rps"] / b["rps"] for g, b in zip(results["gateway"], results[key], strict=True)]

    vs_bare, vs_raw, vs_asgi = vs("bare"), vs("raw"), vs("asgi")
    print(
        f"{runs} round(s) of {seconds} s, {connections} concurrent requests, "
        f"{args.workers} uvicorn workers, load from wrk; repo_url {body['repo_url']} "
        f"({'DNS check per request' if args.resolve else 'allow-listed: no DNS lookup'}); "
        f"gateway relay publishing, no stages (analyzer queue purged each round); {machine()}."
    )
    print()
    print(
        table(
            ["path", "req/s min", "req/s median", "req/s max", "p50 ms", "p99 ms", "errors"],
            [
                row(f"gateway POST /request ({args.workers} workers, job + outbox)", "gateway"),
                row(f"bare FastAPI, same answer, no I/O ({args.workers} workers)", "bare"),
                row(f"raw asyncpg job + outbox txn ({args.workers} processes)", "raw"),
                row(f"bare ASGI app, no framework, no I/O ({args.workers} workers)", "asgi"),
            ],
        )
    )
    print()
    med_bare = statistics.median(vs_bare)
    med_raw = statistics.median(vs_raw)
    print(
        f"- gateway / bare FastAPI: {med_bare:.3f}x (rounds {min(vs_bare):.2f}-{max(vs_bare):.2f}; "
        f"target ≥ {TARGET_BARE:.2f}x)"
    )
    print(
        f"- gateway / raw asyncpg: {med_raw:.2f}x (rounds {min(vs_raw):.2f}-{max(vs_raw):.2f}; "
        f"aim ≥ {AIM_RAW:.1f}x)"
    )
    print(
        f"- gateway / bare ASGI app: {statistics.median(vs_asgi):.2f}x (rounds "
        f"{min(vs_asgi):.2f}-{max(vs_asgi):.2f}; no target: the gateway answers well-formed "
        "submissions without FastAPI's per-request layers, services/gateway/fastpath.py)"
    )
    print(
        f"- {stored} jobs stored; outbox empty {statistics.median(drains):.1f} s (median) "
        "after each gateway run (relay catch-up)"
    )
    errors = sum(r["errors"] for rs in results.values() for r in rs)
    missed = [] if med_bare >= TARGET_BARE else [f"gateway/bare {med_bare:.3f}x"]
    if errors:
        missed.append(f"{errors} failed requests")
    if args.smoke:
        print("targets: not enforced (smoke)")
        return 1 if errors else 0
    print("targets: " + ("MISSED: " + "; ".join(missed) if missed else "met"))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
