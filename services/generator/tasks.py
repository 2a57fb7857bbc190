"""Generator for brief-to-site tasks: the LLM writes the site; checks failures repair it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from services.generator.site import (
    NO_LLM,
    SiteGenerationError,
    generate_site,
    placeholder_site,
)
from shared.contracts.attachments import Attachment
from shared.events import TaskGenerated, TaskPlanned, TaskRepairRequested, TaskRequest
from shared.llm import LLMClient
from shared.roundclock import RoundClock
from shared.stage import Outcome, StageContext

__all__ = ["handle_task_planned", "handle_task_repair"]


async def _attachments(ctx: StageContext, job_id: UUID) -> list[Attachment]:
    rows = await ctx.store.get_attachments(job_id=job_id)
    return [Attachment(name=r.name, mime=r.mime, data=r.data) for r in rows]


def _texts(files: dict[str, bytes]) -> dict[str, str]:
    texts = {}
    for path, data in files.items():
        try:
            texts[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary files (images) are kept as they are, not shown to the LLM
    return texts


# The generator may use this share of the round's work time; the rest is for the push,
# the Pages wait and the browser checks, which the evaluator also waits for.
_LLM_SHARE = 0.5
# Below this, an LLM round trip cannot be expected to finish: go straight to the placeholder.
_LLM_MIN_S = 5.0


@dataclass(frozen=True)
class _Site:
    files: dict[str, bytes]
    placeholder: str | None = None  # why the placeholder was written instead


async def _generate(
    ctx: StageContext,
    job_id: UUID,
    task: TaskRequest,
    *,
    existing: dict[str, bytes] | None,
    failures: list[str] | None,
) -> _Site:
    """The LLM's site within the round's budget, or the labelled placeholder and why."""
    attachments = await _attachments(ctx, job_id)
    texts = _texts(existing or {})
    client = LLMClient.from_settings(ctx.settings)
    author = ctx.settings.commit_author_name
    if client is None:
        # Without an LLM, generate_site writes its labelled placeholder page.
        files = await generate_site(
            task.brief, task.checks, attachments, client=None, log=ctx.log.info,
            round=task.round, existing_files=texts, author=author,
        )  # fmt: skip
        return _Site(files, placeholder=NO_LLM)
    budget = RoundClock.for_job(ctx.job, ctx.settings).share_s(_LLM_SHARE)
    try:
        if budget < _LLM_MIN_S:
            raise TimeoutError
        async with client, asyncio.timeout(budget):
            files = await generate_site(
                task.brief, task.checks, attachments, client=client, log=ctx.log.info,
                round=task.round, existing_files=texts, failures=failures, author=author,
            )  # fmt: skip
        return _Site(files)
    except SiteGenerationError as exc:
        why = f"the LLM gave no usable site ({exc})"
    except TimeoutError:
        why = f"the LLM gave no site within the {budget:.0f}s this round could spare"
    await ctx.log.warning(f"generator: {why}; publishing the labelled placeholder site instead")
    files = placeholder_site(
        task.brief, task.checks, attachments, why=why, round=task.round,
        existing_files=texts if failures is None else None, author=author,
    )  # fmt: skip
    return _Site(files, placeholder=why)


async def handle_task_planned(event: TaskPlanned, ctx: StageContext) -> Outcome:
    """Write the site for the brief (round 2: starting from round 1's files)."""
    existing = None
    if event.previous_job_id is not None:
        existing = await ctx.store.get_artifact_bytes(job_id=event.previous_job_id)
    site = await _generate(ctx, event.job_id, event.task, existing=existing, failures=None)
    return Outcome(
        status="provisioning",
        stage="provisioner",
        artifacts=site.files,
        result={"placeholder": site.placeholder} if site.placeholder else None,
        next_event=TaskGenerated(
            job_id=event.job_id,
            task=event.task,
            target=event.target,
            repo=event.repo,
            placeholder=site.placeholder,
        ),
        message=f"generator: site of {len(site.files)} files written",
        fields={"files": sorted(site.files)},
    )


async def handle_task_repair(event: TaskRepairRequested, ctx: StageContext) -> Outcome:
    """Regenerate with the failed checks as feedback."""
    existing = await ctx.store.get_artifact_bytes(job_id=event.job_id)
    await ctx.log.info(
        f"generator: repairing the site for attempt {event.attempt}: "
        f"{len(event.failures)} checks failed"
    )
    site = await _generate(
        ctx, event.job_id, event.task, existing=existing, failures=event.failures
    )
    if site.placeholder:
        # The repair gave nothing better: publish the site that was checked, as it was.
        await ctx.log.warning("generator: keeping the site as it was; no repaired site")
        site = _Site(existing)
    return Outcome(
        status="provisioning",
        stage="provisioner",
        artifacts=site.files,
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
