"""A job's log on its own clock: where a deploy's seconds went, printed by `--trace`."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

__all__ = ["print_trace"]


def print_trace(job: dict[str, Any]) -> None:
    """Each log line of ``job`` with its seconds since the job was created, to stderr."""
    start = datetime.fromisoformat(job["created_at"])
    for line in job.get("logs") or []:
        at = (datetime.fromisoformat(line["ts"]) - start).total_seconds()
        print(f"{at:7.3f} {line['message'][:140]}", file=sys.stderr)
    print(file=sys.stderr)
