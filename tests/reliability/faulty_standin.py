"""Stand-in stages (tests/support/standin.py) with hostile output and injected faults.

`python -m tests.reliability.faulty_standin <stage>` runs the stand-in stage, plus:

- analyzer job keywords, each a real cause: ``nul-error`` (the handler raises with a NUL
  and a lone surrogate in its message, as git's stderr can), ``nul-permanent`` (the same
  as a PermanentError), ``nul-text`` (NUL and lone surrogates in the analysis, the log
  line and its fields, as a repository's text can hold), ``huge-key`` (an artifact path
  PostgreSQL's index refuses: the commit itself fails for real);
- ``STANDIN_FAULT=<stage>:<step>``, for what no input can cause: ``begin`` (every begin
  statement is refused), ``commit`` (every commit statement is refused, the failure's
  own commit included), ``outage`` (the first commit statement finds the database
  connection gone), ``ack`` (the first ack of each delivery is lost after its commit:
  the broker takes the delivery back).

Test code only: nothing here is in the product.
"""

from __future__ import annotations

import os
import random
import string
import sys
from typing import Any

import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from shared import db
from shared.acks import Acks
from shared.stage import Outcome, PermanentError, Route, StageContext
from tests.support import standin

HOSTILE = "git said: \x00\x01\ufffe binary \udcff\x00 fatal: early EOF"


def _refused(*_: Any, **__: Any) -> Any:
    raise asyncpg.exceptions.CharacterNotInRepertoireError(
        'invalid byte sequence for encoding "UTF8": 0x00 (injected by STANDIN_FAULT)'
    )


async def analyze(event: Any, ctx: StageContext) -> Outcome:
    description = event.request.description
    if "nul-error" in description:
        raise RuntimeError(HOSTILE)
    if "nul-permanent" in description:
        raise PermanentError(HOSTILE)
    outcome = await standin.analyze(event, ctx)
    if "nul-text" in description:
        assert outcome.analysis is not None and isinstance(outcome.next_event, standin.JobAnalyzed)
        outcome.next_event.analysis.framework = "fla\x00sk\udc80"
        outcome.analysis = {**outcome.analysis, "framework": "fla\x00sk\udc80", "k\x00": [HOSTILE]}
        outcome.message = f"analyzer: read {HOSTILE}"
        outcome.fields = {"evidence": HOSTILE, "literal": "\\u0000"}
    if "huge-key" in description:
        path = "".join(random.choices(string.ascii_letters, k=20_000))
        outcome.artifacts = {path: "refused by the artifacts index"}
    return outcome


def _inject(fault: str) -> None:
    if fault == "begin":
        db.begin_stage_runs = _refused  # type: ignore[assignment]
    elif fault == "commit":
        db.commit_stage_runs = _refused  # type: ignore[assignment]
    elif fault == "outage":
        real_commit = db.commit_stage_runs
        cut: list[bool] = []

        async def commit(conn: Any, commits: Any, **kwargs: Any) -> Any:
            if not cut:
                cut.append(True)
                raise ConnectionResetError("injected: the database connection was lost")
            return await real_commit(conn, commits, **kwargs)

        db.commit_stage_runs = commit  # type: ignore[assignment]
    elif fault == "ack":
        real_ack = Acks.ack
        lost: set[str | None] = set()

        async def ack(self: Acks, message: AbstractIncomingMessage) -> None:
            if message.message_id in lost:
                await real_ack(self, message)
                return
            lost.add(message.message_id)
            await message.nack(requeue=True)  # what a closed channel does to it
            raise ConnectionError("injected: the ack was lost with its channel")

        Acks.ack = ack  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown STANDIN_FAULT step {fault!r}")


def main() -> None:
    stage = sys.argv[1]
    where, _, step = os.environ.get("STANDIN_FAULT", "").partition(":")
    if where == stage:
        _inject(step)
    standin.ROUTES["analyzer"] = Route(standin.JobRequested, analyze, working_status="analyzing")
    standin.main()


if __name__ == "__main__":
    main()
