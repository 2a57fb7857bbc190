"""Analyzer for brief-to-site tasks: check the brief, choose where the site goes."""

from __future__ import annotations

from shared.events import TaskPlanned, TaskRequested
from shared.stage import Outcome, PermanentError, StageContext

__all__ = ["handle_task_requested"]


async def handle_task_requested(event: TaskRequested, ctx: StageContext) -> Outcome:
    """Pick GitHub Pages or the local git+preview target; find round 1 for a revision.

    A revision without a known earlier round is published as a round 1 would be.
    """
    task = event.task
    settings = ctx.settings
    has_github = settings.github_token is not None and bool(
        settings.github_token.get_secret_value()
    )
    if has_github:
        target = "github-pages"
    elif settings.pages_git_remote:
        target = "git-preview"
    else:
        raise PermanentError(
            "nowhere to publish: set GITHUB_TOKEN (GitHub Pages) or PAGES_GIT_REMOTE "
            "(any git server, with a local preview)"
        )
    repo = None
    previous = None
    if task.round > 1:
        earlier = await ctx.store.find_earlier_round(
            task=task.task, email=task.email, before_round=task.round
        )
        if earlier is None:
            # The evaluator's round 1 went to another deployment, or the database was
            # reset: a site in a new repository still scores, silence does not.
            await ctx.log.warning(
                f"analyzer: round {task.round} of task {task.task!r} revises an earlier "
                f"round, but {task.email} has no published earlier round of it here; "
                "publishing into a new repository as round 1 would"
            )
        else:
            repo, previous = earlier.repo, earlier.job_id
            await ctx.log.info(f"analyzer: round {task.round} revises {repo.get('html_url')}")
    await ctx.log.info(
        f"analyzer: brief of {len(task.brief)} characters, {len(task.checks)} checks, "
        f"{len(task.attachments)} attachments; publishing to {target}"
    )
    return Outcome(
        status="generating",
        stage="generator",
        result={"target": target},
        next_event=TaskPlanned(
            job_id=event.job_id, task=task, target=target, repo=repo, previous_job_id=previous
        ),
        message=f"analyzer: task {task.task} round {task.round} planned",
    )
