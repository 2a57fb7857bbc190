"""Generator for brief-to-site tasks: the LLM writes the site; checks failures repair it."""

from __future__ import annotations

import contextlib
from uuid import UUID

from services.gateway.attachments import Attachment
from services.generator.site import SiteGenerationError, generate_site
from shared import db
from shared.events import TaskGenerated, TaskPlanned, TaskRepairRequested, TaskRequest
from shared.llm import LLMClient
from shared.stage import Outcome, PermanentError, StageContext

__all__ = ["handle_task_planned", "handle_task_repair"]


async def _attachments(ctx: StageContext, job_id: UUID) -> list[Attachment]:
    rows = await ctx.pool.fetch(
        "SELECT name, mime, data FROM task_attachments WHERE job_id = $1 ORDER BY name", job_id
    )
    return [Attachment(name=r["name"], mime=r["mime"], data=bytes(r["data"])) for r in rows]


def _texts(files: dict[str, bytes]) -> dict[str, str]:
    texts = {}
    for path, data in files.items():
        try:
            texts[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary files (images) are kept as they are, not shown to the LLM
    return texts


async def _generate(
    ctx: StageContext,
    job_id: UUID,
    task: TaskRequest,
    *,
    existing: dict[str, bytes] | None,
    failures: list[str] | None,
) -> dict[str, bytes]:
    client = LLMClient.from_settings(ctx.settings)
    try:
        # Without an LLM, generate_site writes its labelled placeholder page.
        async with client if client is not None else contextlib.nullcontext():
            return await generate_site(
                task.brief,
                task.checks,
                await _attachments(ctx, job_id),
                client=client,
                log=ctx.log.info,
                round=task.round,
                existing_files=_texts(existing or {}),
                failures=failures,
                author=ctx.settings.commit_author_name,
            )
    except SiteGenerationError as exc:
        raise PermanentError(f"the site could not be generated: {exc}") from exc


async def handle_task_planned(event: TaskPlanned, ctx: StageContext) -> Outcome:
    """Write the site for the brief (round 2: starting from round 1's files)."""
    existing = None
    if event.previous_job_id is not None:
        existing = await db.get_artifact_bytes(ctx.pool, job_id=event.previous_job_id)
    files = await _generate(ctx, event.job_id, event.task, existing=existing, failures=None)
    return Outcome(
        status="provisioning",
        stage="provisioner",
        artifacts=files,
        next_event=TaskGenerated(
            job_id=event.job_id, task=event.task, target=event.target, repo=event.repo
        ),
        message=f"generator: site of {len(files)} files written",
        fields={"files": sorted(files)},
    )


async def handle_task_repair(event: TaskRepairRequested, ctx: StageContext) -> Outcome:
    """Regenerate with the failed checks as feedback."""
    existing = await db.get_artifact_bytes(ctx.pool, job_id=event.job_id)
    await ctx.log.info(
        f"generator: repairing the site for attempt {event.attempt}: "
        f"{len(event.failures)} checks failed"
    )
    files = await _generate(
        ctx, event.job_id, event.task, existing=existing, failures=event.failures
    )
    return Outcome(
        status="provisioning",
        stage="provisioner",
        artifacts=files,
        artifact_attempt=event.attempt,
        next_event=TaskGenerated(
            job_id=event.job_id,
            task=event.task,
            target=event.target,
            repo=event.repo,
            attempt=event.attempt,
        ),
        message=f"generator: repaired site ready for attempt {event.attempt}",
    )
