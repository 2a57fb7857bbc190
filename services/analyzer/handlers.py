"""Analyzer handlers: clone the repository, understand it, hand the analysis on."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from services.analyzer.detect import analyze_repository
from services.analyzer.llm import refine_analysis
from services.analyzer.tasks import handle_task_requested
from shared.analysis import Analysis
from shared.capabilities.git import (
    CloneLimits,
    clone_repository,
    clone_warm,
    first_clone_dir,
    kept_clone_dir,
    remove_kept_clone,
    repository_token,
)
from shared.events import JobAnalyzed, JobRequested, TaskRequested
from shared.llm import LLMClient
from shared.safeyaml import DocumentRefused
from shared.security import redact_obj
from shared.settings import Settings
from shared.stage import Outcome, PermanentError, Route, StageContext

__all__ = ["routes"]


async def handle_requested(event: JobRequested, ctx: StageContext) -> Outcome:
    """Clone, analyse, and either hand off to the generator or reject the job."""
    settings = ctx.settings
    request = event.request
    # One folder per attempt: an interrupted attempt's leftovers never mix with this one.
    workdir = Path(settings.workspace_dir) / f"analyzer-{event.job_id}-{ctx.delivery}-{ctx.attempt}"
    limits = CloneLimits.from_settings(settings)
    try:
        app_id = ctx.job.get("app_id")
        # A revision of a known app (redeploy, push) fetches into the app's kept clone; a
        # first deploy clones into a clone kept under the job, which its app adopts.
        kept: Path | None = None
        if settings.kept_clones > 0 and app_id is not None:
            kept = kept_clone_dir(settings.workspace_dir, app_id)
        elif settings.kept_clones > 0 and request.mode != "plan":
            kept = first_clone_dir(settings.workspace_dir, event.job_id)
        if kept is not None:
            sha, warm = await clone_warm(
                request.repo_url,
                workdir,
                kept=kept,
                keep_at_most=settings.kept_clones,
                token=repository_token(request, settings),
                allowed_hosts=settings.allowed_git_hosts,
                limits=limits,
                commit=request.commit,
            )
            said = (
                f"fetched into the app's kept clone: commit {sha[:12]}"
                if warm
                else f"cloned commit {sha[:12]} (kept for the app)"
            )
            await ctx.log.info(f"analyzer: {said}", commit=sha, warm=warm)
        else:
            await ctx.log.info(f"analyzer: cloning {request.repo_url} (depth 1)")
            sha = await clone_repository(
                request.repo_url,
                workdir,
                token=repository_token(request, settings),
                allowed_hosts=settings.allowed_git_hosts,
                limits=limits,
                commit=request.commit,
            )
            await ctx.log.info(f"analyzer: cloned commit {sha[:12]}", commit=sha)
        try:
            analysis = await asyncio.to_thread(
                analyze_repository,
                workdir,
                description=request.description,
                commit_sha=sha,
                cloud_credentials=settings.cloud_credentials,
            )
        except DocumentRefused as exc:  # a hostile file: retrying reads the same bytes
            raise PermanentError(str(exc)) from exc
        client = LLMClient.from_settings(settings)
        if client is not None and analysis.verdict == "http-service":
            await ctx.log.info("analyzer: asking the LLM which files matter and what they imply")
            async with client:
                analysis = await refine_analysis(
                    workdir, analysis, request.description, client, ctx.log.info
                )
            for conflict in analysis.conflicts:
                await ctx.log.warning(f"analyzer: conflict: {conflict}")
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    if request.target:
        analysis.target = request.target
        analysis.target_reasons.insert(0, f"the request asked for target '{request.target}'")
    analysis = _without_secrets(analysis)
    summary = {
        "files": analysis.file_count,
        "language": analysis.language,
        "framework": analysis.framework,
        "port": analysis.port.value if analysis.port else None,
        "target": analysis.target,
    }
    if analysis.verdict != "http-service":
        # Nothing will be deployed: no app will adopt the job's first clone.
        await asyncio.to_thread(
            remove_kept_clone, first_clone_dir(settings.workspace_dir, event.job_id)
        )
        reasons = "; ".join(analysis.verdict_reasons) or "no HTTP server found"
        return Outcome(
            status="rejected",
            stage="analyzer",
            analysis=analysis.model_dump(mode="json"),
            error=f"not an HTTP service: {reasons}",
            message=f"analyzer: rejected, not an HTTP service: {reasons}",
            fields=summary,
        )
    return Outcome(
        status="generating",
        stage="generator",
        analysis=analysis.model_dump(mode="json"),
        next_event=JobAnalyzed(job_id=event.job_id, request=request, analysis=analysis),
        message=(
            f"analyzer: {analysis.file_count} files; {analysis.framework or analysis.language} "
            f"app in '{analysis.app_root}', target {analysis.target}"
        ),
        fields=summary,
    )


def _without_secrets(analysis: Analysis) -> Analysis:
    """The analysis with secret-shaped text (keys, tokens, URL credentials) replaced.

    Its evidence lines and file tree quote the repository, and it is stored on the job,
    shown by GET /job/{id} and handed on in ``job.analyzed``: one pass here keeps all three
    clean. File and line references stay; only the secret-shaped substrings go.
    """
    clean = redact_obj(analysis.model_dump(mode="json"), shapes_only=True)
    return Analysis.model_validate(clean)


def routes(settings: Settings) -> list[Route]:
    """The analyzer's routes: repository jobs and brief-to-site tasks."""
    return [
        Route(JobRequested, handle_requested, working_status="analyzing"),
        Route(TaskRequested, handle_task_requested, working_status="analyzing"),
    ]
