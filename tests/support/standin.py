"""Stand-in stages: the real runner, broker, outbox and database, with trivial stage work.

`python -m tests.support.standin <stage>` runs one stage whose handler does no real work
(optionally sleeping STANDIN_DELAY_S) and hands the job on with the real events. Reliability
tests and benchmarks use them to push many jobs through the real plumbing quickly. A job
whose description contains "poison" makes the analyzer raise every time; one that contains
"sleep=N" makes the analyzer work N seconds on it (longer than a broker's consumer timeout);
"lose-run" makes the analyzer's first delivery lose its run row, as a crash could.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any

from services.verifier.handlers import on_start as verifier_on_start
from shared.analysis import Analysis
from shared.events import (
    JobAnalyzed,
    JobCompleted,
    JobGenerated,
    JobProvisioned,
    JobRequested,
)
from shared.jobstore import PostgresJobStore
from shared.service import run_stage_service
from shared.settings import Settings
from shared.stage import Outcome, Route, StageContext

DELAY = float(os.environ.get("STANDIN_DELAY_S", "0"))


async def _pause() -> None:
    if DELAY:
        await asyncio.sleep(DELAY)


async def analyze(event: JobRequested, ctx: StageContext) -> Outcome:
    await _pause()
    long_work = re.search(r"sleep=(\d+(?:\.\d+)?)", event.request.description)
    if long_work:
        await ctx.log.info(f"analyzer: stand-in working {long_work[1]}s on this job")
        await asyncio.sleep(float(long_work[1]))
    if "poison" in event.request.description:
        raise RuntimeError("stand-in analyzer always fails on poison")
    if "lose-run" in event.request.description and ctx.delivery == 1:
        # What a database crash does to a begin committed asynchronously: the run is gone.
        # Only raw SQL can do that to the runner's table: the stand-in reaches past the
        # store to the pool the runner built it on.
        assert isinstance(ctx.store, PostgresJobStore)
        await ctx.store.pool.execute(
            "DELETE FROM stage_runs WHERE job_id = $1 AND stage = 'analyzer'", event.job_id
        )
    analysis = Analysis(commit_sha="0" * 40, language="standin")
    return Outcome(
        status="generating",
        stage="generator",
        analysis=analysis.model_dump(mode="json"),
        next_event=JobAnalyzed(job_id=event.job_id, request=event.request, analysis=analysis),
        message="analyzer: stand-in analysis",
    )


async def generate(event: JobAnalyzed, ctx: StageContext) -> Outcome:
    await _pause()
    return Outcome(
        status="provisioning",
        stage="provisioner",
        artifacts={"standin.txt": f"bundle of {event.job_id}\n"},
        next_event=JobGenerated(
            job_id=event.job_id,
            request=event.request,
            analysis=event.analysis,
            artifact_paths=["standin.txt"],
        ),
        message="generator: stand-in bundle",
    )


async def provision(event: JobGenerated, ctx: StageContext) -> Outcome:
    await _pause()
    deployment: dict[str, Any] = {"target": "standin", "url": f"standin://{event.job_id}"}
    return Outcome(
        status="verifying",
        stage="verifier",
        result={"deployment": deployment},
        next_event=JobProvisioned(
            job_id=event.job_id,
            request=event.request,
            analysis=event.analysis,
            deployment=deployment,
        ),
        message="provisioner: stand-in deployment",
    )


async def verify(event: JobProvisioned, ctx: StageContext) -> Outcome:
    await _pause()
    result = {"url": event.deployment["url"]}
    return Outcome(
        status="completed",
        stage="verifier",
        result=result,
        next_event=JobCompleted(job_id=event.job_id, result=result),
        message="verifier: stand-in check passed",
    )


ROUTES = {
    "analyzer": Route(JobRequested, analyze, working_status="analyzing"),
    "generator": Route(JobAnalyzed, generate, working_status="generating"),
    "provisioner": Route(JobGenerated, provision, working_status="provisioning"),
    "verifier": Route(JobProvisioned, verify, working_status="verifying"),
}


def main() -> None:
    stage = sys.argv[1]

    def routes(settings: Settings) -> list[Route]:
        return [ROUTES[stage]]

    run_stage_service(stage, routes, on_start=verifier_on_start if stage == "verifier" else None)


if __name__ == "__main__":
    main()
