"""Verifier for brief-to-site tasks: browser checks, a repair round, the evaluation callback."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from services.verifier.browser import (
    BrowserUnavailable,
    PageLoadError,
    run_checks,
)
from services.verifier.callback import CallbackUrlError, evaluation_payload, send_callback
from shared.events import TaskPublished, TaskRepairRequested
from shared.stage import Outcome, PermanentError, StageContext

__all__ = ["handle_task_published"]


async def handle_task_published(event: TaskPublished, ctx: StageContext) -> Outcome:
    """Check the published page in Chromium; repair once if needed; call the evaluator."""
    settings = ctx.settings
    task = event.task
    await ctx.log.info(f"verifier: loading {event.pages_url} in headless Chromium")
    try:
        results = await run_checks(
            event.pages_url, task.checks, executable_path=settings.chromium_path or None
        )
    except BrowserUnavailable as exc:
        raise PermanentError(f"the browser checks could not run: {exc}") from exc
    except PageLoadError as exc:
        # A Pages site can answer 404 for a while after its build: retried with backoff.
        raise RuntimeError(f"the published page did not load: {exc}") from exc
    for result in results:
        level = "info" if result.status != "fail" else "warning"
        await ctx.log.log(
            level, f"verifier: check {result.status}: {result.check}", detail=result.detail
        )
    checks = [asdict(r) for r in results]
    failures = [f"{r.check}: {r.detail}" for r in results if r.status == "fail"]
    if failures and settings.llm_enabled and event.attempt <= settings.max_site_repairs:
        return Outcome(
            status="generating",
            stage="generator",
            result={"checks": checks},
            next_event=TaskRepairRequested(
                job_id=event.job_id,
                task=task,
                target=event.target,
                repo=event.repo,
                failures=failures,
                attempt=event.attempt + 1,
            ),
            message=f"verifier: {len(failures)} checks failed; asking for a repaired site",
        )

    payload = evaluation_payload(
        email=task.email,
        task=task.task,
        round=task.round,
        nonce=task.nonce,
        repo_url=str(event.repo.get("html_url", "")),
        commit_sha=event.commit_sha,
        pages_url=event.pages_url,
    )
    elapsed = (datetime.now(UTC) - ctx.job["created_at"]).total_seconds()
    attempts_seen: list[dict[str, object]] = []

    async def on_attempt(n: int, outcome: int | str, delay: float | None) -> None:
        attempts_seen.append({"attempt": n, "outcome": outcome, "next_delay_s": delay})
        wait = f"; retrying in {delay:g}s" if delay else ""
        await ctx.log.info(f"verifier: callback attempt {n}: {outcome}{wait}")

    allowed = [h.strip() for h in settings.callback_allowed_hosts.split(",") if h.strip()]
    try:
        attempts = await send_callback(
            task.evaluation_url,
            payload,
            deadline_s=max(settings.callback_deadline_s - elapsed, 1.0),
            first_delay_s=settings.callback_first_delay_s,
            on_attempt=on_attempt,
            allowed_hosts=allowed,
        )
    except CallbackUrlError as exc:
        raise PermanentError(f"the evaluation URL is refused: {exc}") from exc
    outcome = {"checks": checks, "callback_attempts": [asdict(a) for a in attempts]}
    if not attempts or not attempts[-1].ok:
        last = attempts[-1] if attempts else None
        reason = (last.status or last.error) if last else "no attempt"
        raise PermanentError(
            f"the evaluation callback to {task.evaluation_url} was not accepted within "
            f"{settings.callback_deadline_s:g}s of the request ({len(attempts)} attempts, "
            f"last: {reason})"
        )
    passed = sum(r.status == "pass" for r in results)
    return Outcome(
        status="completed",
        stage="verifier",
        result=outcome,
        message=(
            f"verifier: {passed}/{len(results)} checks passed; evaluator called back "
            f"after {len(attempts)} attempts"
        ),
    )
