"""Verifier for brief-to-site tasks: browser checks, a repair round, the evaluation callback.

An evaluator that hears nothing scores zero; one that gets a repository can still score
its LICENSE, README and whatever checks pass. So every published round ends in a
callback, within the round's deadline (``shared.roundclock``): when the page is not live,
or the browser cannot run, or the time is short, the checks are recorded as not run (with
why) and the callback goes out anyway. The job records whether it was delivered.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

from services.verifier.browser import (
    BrowserUnavailable,
    CheckResult,
    PageLoadError,
    run_checks,
)
from services.verifier.callback import (
    CallbackAttempt,
    CallbackUrlError,
    evaluation_payload,
    send_callback,
)
from shared.events import TaskPublished, TaskRepairRequested
from shared.roundclock import RoundClock
from shared.stage import Outcome, StageContext

__all__ = ["handle_task_published"]


@dataclass
class _Checked:
    """The browser checks' results, or why they could not run."""

    results: list[CheckResult] = field(default_factory=list)
    not_run: str | None = None

    def failures(self) -> list[str]:
        return [f"{r.check}: {r.detail}" for r in self.results if r.status == "fail"]

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"checks": [asdict(r) for r in self.results]}
        if self.not_run:
            record["checks_not_run"] = self.not_run
        return record


async def _check(event: TaskPublished, ctx: StageContext, clock: RoundClock) -> _Checked:
    """Run the checks within the round's work time; say why when they cannot run."""
    if event.not_live:
        return _Checked(not_run=f"the page was not live in time ({event.not_live})")
    left = clock.work_left_s()
    if left <= 0:
        return _Checked(not_run="no time was left in the round for the browser checks")
    await ctx.log.info(f"verifier: loading {event.pages_url} in headless Chromium")
    try:
        async with asyncio.timeout(left):
            results = await run_checks(
                event.pages_url,
                event.task.checks,
                executable_path=ctx.settings.chromium_path or None,
            )
    except BrowserUnavailable as exc:
        return _Checked(not_run=f"the browser checks could not run: {exc}")
    except TimeoutError:
        return _Checked(not_run=f"the browser checks did not finish in the {left:.0f}s left")
    except PageLoadError as exc:
        # A Pages site can answer 404 for a while after its build: the stage retries with
        # backoff while the round has time (and retries) for it, then calls back anyway.
        if ctx.attempt <= ctx.settings.max_retries and clock.work_left_s() > _retry_s(ctx):
            raise RuntimeError(f"the published page did not load: {exc}") from exc
        return _Checked(not_run=f"the published page did not load: {exc}")
    for result in results:
        level = "info" if result.status != "fail" else "warning"
        await ctx.log.log(
            level, f"verifier: check {result.status}: {result.check}", detail=result.detail
        )
    return _Checked(results)


def _retry_s(ctx: StageContext) -> float:
    """How long the stage's next retry waits before it starts."""
    return float(ctx.settings.retry_base_delay_ms / 1000 * 2 ** (ctx.attempt - 1))


def _repair(
    event: TaskPublished, ctx: StageContext, clock: RoundClock, checked: _Checked
) -> TaskRepairRequested | None:
    """A repair round, if checks failed, an LLM can fix them and the round has the time.

    A repair costs about what the first try did (generate, publish, check), so it is
    only asked for while at least that much work time is left.
    """
    failures = checked.failures()
    if not failures or not ctx.settings.llm_enabled or event.placeholder:
        return None
    if event.attempt > ctx.settings.max_site_repairs:
        return None
    if clock.work_left_s() < clock.elapsed_s():
        return None
    return TaskRepairRequested(
        job_id=event.job_id,
        task=event.task,
        target=event.target,
        repo=event.repo,
        failures=failures,
        attempt=event.attempt + 1,
    )


async def _call_back(
    event: TaskPublished, ctx: StageContext, clock: RoundClock
) -> tuple[list[CallbackAttempt], str | None]:
    """POST the result to the evaluator until the deadline; the attempts and any refusal."""
    task = event.task
    payload = evaluation_payload(
        email=task.email,
        task=task.task,
        round=task.round,
        nonce=task.nonce,
        repo_url=str(event.repo.get("html_url", "")),
        commit_sha=event.commit_sha,
        pages_url=event.pages_url,
    )

    async def on_attempt(n: int, outcome: int | str, delay: float | None) -> None:
        wait = f"; retrying in {delay:g}s" if delay else ""
        await ctx.log.info(f"verifier: callback attempt {n}: {outcome}{wait}")

    allowed = [h.strip() for h in ctx.settings.callback_allowed_hosts.split(",") if h.strip()]
    try:
        attempts = await send_callback(
            task.evaluation_url,
            payload,
            deadline_s=max(clock.callback_left_s(), 1.0),
            first_delay_s=ctx.settings.callback_first_delay_s,
            on_attempt=on_attempt,
            allowed_hosts=allowed,
        )
    except CallbackUrlError as exc:
        return [], f"the evaluation URL is refused: {exc}"
    return attempts, None


async def handle_task_published(event: TaskPublished, ctx: StageContext) -> Outcome:
    """Check the published page in Chromium; repair once if time allows; call the evaluator."""
    clock = RoundClock.for_job(ctx.job, ctx.settings)
    checked = await _check(event, ctx, clock)
    if checked.not_run:
        await ctx.log.warning(f"verifier: browser checks not run: {checked.not_run}")
    repair = _repair(event, ctx, clock, checked)
    if repair is not None:
        return Outcome(
            status="generating",
            stage="generator",
            result=checked.record(),
            next_event=repair,
            message=(f"verifier: {len(repair.failures)} checks failed; asking for a repaired site"),
        )

    attempts, refused = await _call_back(event, ctx, clock)
    delivered = bool(attempts) and attempts[-1].ok
    result = {
        **checked.record(),
        "callback_attempts": [asdict(a) for a in attempts],
        "callback_delivered": delivered,
    }
    if not delivered:
        last = attempts[-1] if attempts else None
        reason = refused or ((last.status or last.error) if last else "no attempt")
        return Outcome(
            status="failed",
            stage="verifier",
            result=result,
            error=(
                f"the evaluation callback to {event.task.evaluation_url} was not accepted "
                f"within {clock.deadline_s:g}s of the request ({len(attempts)} attempts, "
                f"last: {reason})"
            ),
            message=f"verifier: the evaluator was not reached (last: {reason})",
        )
    passed = sum(r.status == "pass" for r in checked.results)
    return Outcome(
        status="completed",
        stage="verifier",
        result=result,
        message=(
            f"verifier: {passed}/{len(checked.results)} checks passed; evaluator called back "
            f"after {len(attempts)} attempts"
        ),
    )
