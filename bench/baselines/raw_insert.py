"""The database ceiling for POST /request: job row + outbox row in one transaction, raw asyncpg.

    python -m bench.baselines.raw_insert --dsn postgresql://... --concurrency 32 --duration 10

Runs ``concurrency`` tasks on one pool for ``warmup`` + ``duration`` seconds and prints
one JSON object: transactions committed in the measured window and their latencies (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import asyncpg

REQUEST = json.dumps(
    {
        "repo_url": "https://github.com/autodeploy-bench/app",
        "description": "deploy this Flask app",
        "target": None,
        "mode": "deploy",
    }
)


async def run(dsn: str, concurrency: int, pool_size: int, warmup: float, duration: float) -> dict:
    pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
    latencies: list[float] = []
    count = 0
    start = time.perf_counter() + warmup
    stop = start + duration

    async def worker() -> None:
        nonlocal count
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            job_id = uuid.uuid4()
            event_id = uuid.uuid4()
            payload = json.dumps({"event_id": str(event_id), "job_id": str(job_id)})
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO jobs (id, kind, status, request) VALUES ($1, $2, $3, $4)",
                    job_id,
                    "repository",
                    "queued",
                    REQUEST,
                )
                await conn.execute(
                    "INSERT INTO outbox (event_id, job_id, routing_key, payload) "
                    "VALUES ($1, $2, $3, $4)",
                    event_id,
                    job_id,
                    "job.requested",
                    payload,
                )
            t1 = time.perf_counter()
            if t0 >= start and t1 <= stop:
                count += 1
                latencies.append((t1 - t0) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await pool.close()
    return {"count": count, "seconds": duration, "latencies_ms": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.dsn, args.concurrency, args.pool, args.warmup, args.duration))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
