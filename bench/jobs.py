"""Watching a bench's jobs: wait for the end as a close client would, and say where the
seconds went (`--trace`)."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

from tests.support.stack import Stack

__all__ = ["finished_job", "print_trace"]

# The benches ask for the whole job this often: they see its end at once, and pay for it
# as a client that watches closely does (docs/benchmarks.md, row 5).
_POLL_S = 0.02


def finished_job(stack: Stack, job_id: str) -> dict[str, Any]:
    """The job once it ended `completed`; raises with its error when it ended otherwise."""
    while True:
        job = stack.job(job_id)
        if job["status"] in ("completed", "failed", "rejected"):
            break
        time.sleep(_POLL_S)
    if job["status"] != "completed":
        raise RuntimeError(f"bench job {job_id} ended {job['status']}: {job['error']}")
    return job


def print_trace(job: dict[str, Any]) -> None:
    """Each log line of ``job`` with its seconds since the job was created, to stderr."""
    start = datetime.fromisoformat(job["created_at"])
    for line in job.get("logs") or []:
        at = (datetime.fromisoformat(line["ts"]) - start).total_seconds()
        print(f"{at:7.3f} {line['message'][:140]}", file=sys.stderr)
    print(file=sys.stderr)
