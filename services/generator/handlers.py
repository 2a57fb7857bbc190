"""Generator handlers: write the bundle for the analysed app, validate it, store it."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from services.generator.bundle import generate_bundle, validate_bundle
from services.generator.bundle.cost import estimate_bundle
from services.generator.bundle.images import base_image_note
from services.generator.llm import improve_bundle
from services.generator.tasks import handle_task_planned, handle_task_repair
from shared.analysis import Analysis, Evidence, PortFinding
from shared.cost import PriceTable
from shared.events import (
    JobAnalyzed,
    JobGenerated,
    JobRepairRequested,
    TaskPlanned,
    TaskRepairRequested,
)
from shared.images import load_base_image_overrides, load_base_image_runtimes
from shared.llm import LLMClient
from shared.settings import Settings
from shared.stage import Outcome, PermanentError, Route, StageContext

__all__ = ["repaired_analysis", "routes"]


async def _bundle(
    analysis: Analysis, job_id: UUID, ctx: StageContext, *, attempt: int = 1
) -> dict[str, str]:
    overrides = load_base_image_overrides(ctx.settings.base_image_overrides)
    files = generate_bundle(
        analysis, job_id=str(job_id), base_images=overrides, price_table=_prices(ctx.settings)
    )
    reused = analysis.docker is not None and bool(analysis.docker.dockerfile)
    # TypeScript, but not on Node: the Deno and Bun images say what they run in their tags.
    reused = reused or analysis.framework in ("deno", "bun")
    note = (
        None
        if reused
        else base_image_note(
            analysis.language or "",
            analysis.runtime_version,
            overrides,
            load_base_image_runtimes(ctx.settings.base_image_overrides),
        )
    )
    if note:
        await ctx.log.info(f"generator: {note}")
    client = LLMClient.from_settings(ctx.settings)
    if client is not None:
        async with client:
            files, source = await improve_bundle(analysis, files, client, ctx.log.info)
        await ctx.log.info(f"generator: files from {source}")
    await ctx.log.info(
        f"generator: wrote {len(files)} files (attempt {attempt})", files=sorted(files)
    )
    violations = await asyncio.to_thread(validate_bundle, files)
    if violations:
        listed = "; ".join(str(v) for v in violations[:10])
        raise PermanentError(f"the generated bundle failed validation: {listed}")
    await ctx.log.info(
        "generator: bundle validated (hadolint, shellcheck, compose, terraform policy)"
    )
    return files


def _prices(settings: Settings) -> PriceTable:
    return PriceTable.load(settings.cost_price_table or None)


async def _cost(analysis: Analysis, files: dict[str, str], ctx: StageContext) -> dict[str, Any]:
    """The cloud Terraform's monthly estimate for the job's result (empty for local)."""
    if analysis.target == "local":
        return {}
    cost = await asyncio.to_thread(
        estimate_bundle, files, analysis.target, table=_prices(ctx.settings)
    )
    if cost is None:
        return {}
    limit = ctx.settings.max_monthly_usd
    over = (
        f"; above MAX_MONTHLY_USD (${limit:.2f}), so it would not be applied"
        if (limit and cost.monthly_usd > limit)
        else ""
    )
    await ctx.log.info(f"generator: estimated cost {cost.summary()}{over}")
    return {"cost": cost.as_dict()}


async def _reused_bundle(
    analysis: Analysis, job_id: UUID, ctx: StageContext
) -> dict[str, str] | None:
    """The files of the revision its app serves now, when this one's are the same.

    Generating is pure and takes milliseconds; checking the files (hadolint, shellcheck,
    compose, policy) and asking an LLM take the time. So the bundle is generated, and when
    it equals the served revision's (but for the job id the files name), that revision's
    checks stand and are not run again. With an LLM configured, the served files are the
    LLM's and cannot be compared: nothing is reused.
    """
    app_id = ctx.job.get("app_id")
    if app_id is None or LLMClient.from_settings(ctx.settings) is not None:
        return None
    app = await ctx.store.get_app(app_id=UUID(str(app_id)))
    served = app["current_job_id"] if app is not None else None
    if served is None or served == job_id:
        return None
    fresh = generate_bundle(
        analysis,
        job_id=str(job_id),
        base_images=load_base_image_overrides(ctx.settings.base_image_overrides),
        price_table=_prices(ctx.settings),
    )
    old = await ctx.store.get_artifacts(job_id=served)
    if {path: text.replace(str(served), str(job_id)) for path, text in old.items()} != fresh:
        return None
    await ctx.log.info(
        f"generator: the same {len(fresh)} files as revision {served}, which serves now: "
        "its validated bundle reused (checks not run again)",
        reused_from=str(served),
    )
    return fresh


async def handle_analyzed(event: JobAnalyzed, ctx: StageContext) -> Outcome:
    """Generate and validate the bundle (or reuse the served one's); stop here in plan mode."""
    files = await _reused_bundle(event.analysis, event.job_id, ctx)
    if files is None:
        files = await _bundle(event.analysis, event.job_id, ctx)
    cost = await _cost(event.analysis, files, ctx)
    if event.request.mode == "plan":
        return Outcome(
            status="planned",
            stage="generator",
            artifacts=files,
            result=cost or None,
            message="generator: plan ready; nothing applied (mode=plan)",
        )
    return Outcome(
        status="provisioning",
        stage="provisioner",
        artifacts=files,
        result=cost or None,
        next_event=JobGenerated(
            job_id=event.job_id,
            request=event.request,
            analysis=event.analysis,
            artifact_paths=sorted(files),
        ),
        message=(
            f"generator: bundle of {len(files)} files ready for target {event.analysis.target}"
        ),
    )


def repaired_analysis(event: JobRepairRequested) -> tuple[Analysis, list[str]]:
    """The analysis corrected by what the failed deployment showed, and what changed."""
    analysis = event.analysis.model_copy(deep=True)
    changes: list[str] = []
    if event.detected_port is not None and (
        analysis.port is None or analysis.port.value != event.detected_port
    ):
        before = analysis.port.value if analysis.port else None
        analysis.port = PortFinding(
            value=event.detected_port,
            source="runtime",
            evidence=[
                Evidence(
                    file="(container log)", text=f"app said it listens on {event.detected_port}"
                )
            ],
        )
        changes.append(f"port {before} → {event.detected_port} (from the container's log)")
    if event.binds_loopback and not analysis.binds_loopback:
        analysis.binds_loopback = True
        analysis.bind_address = "127.0.0.1"
        changes.append("the app binds 127.0.0.1: run it bound to 0.0.0.0")
    analysis.reasons.append(f"repair for attempt {event.attempt}: {event.cause}")
    return analysis, changes


async def handle_repair(event: JobRepairRequested, ctx: StageContext) -> Outcome:
    """Regenerate the bundle with the fixes the failed health check points at."""
    analysis, changes = repaired_analysis(event)
    if not changes:
        raise PermanentError(f"no automatic fix for: {event.cause}")
    await ctx.log.info(f"generator: repairing for attempt {event.attempt}: {'; '.join(changes)}")
    files = await _bundle(analysis, event.job_id, ctx, attempt=event.attempt)
    return Outcome(
        status="provisioning",
        stage="provisioner",
        analysis=analysis.model_dump(mode="json"),
        artifacts=files,
        artifact_attempt=event.attempt,
        next_event=JobGenerated(
            job_id=event.job_id,
            request=event.request,
            analysis=analysis,
            artifact_paths=sorted(files),
            attempt=event.attempt,
        ),
        message=f"generator: repaired bundle ready for attempt {event.attempt}",
    )


def routes(settings: Settings) -> list[Route]:
    """The generator's routes: repository jobs and brief-to-site tasks."""
    return [
        Route(JobAnalyzed, handle_analyzed, working_status="generating"),
        Route(JobRepairRequested, handle_repair, working_status="generating"),
        Route(TaskPlanned, handle_task_planned, working_status="generating"),
        Route(TaskRepairRequested, handle_task_repair, working_status="generating"),
    ]
