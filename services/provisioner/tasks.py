"""Provisioner for brief-to-site tasks: push the site and get it served.

`github-pages`: a new public repository (round 1) or the round-1 one (round 2), the
token sent as an HTTP header, Pages enabled and built, polled until it answers, but no
longer than the round's deadline allows: a site not live by then is handed on with the
reason, so the evaluator still hears of the repository, commit and expected Pages URL.
`git-preview`: the same push to PAGES_GIT_REMOTE (any git smart-HTTP server) and a
local preview container on the Docker engine, for machines without GitHub.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.provisioner.github import (
    GitHubClient,
    GitHubError,
    PublishTimeout,
    repo_name_for,
)
from services.provisioner.gitpush import GitAuthor, TransientPushError, push_files
from shared.capabilities.docker_local import job_labels
from shared.capabilities.workspace import local_engine, write_tree
from shared.contracts.errors import DeployError
from shared.events import TaskGenerated, TaskPublished
from shared.images import load_base_image_overrides
from shared.roundclock import RoundClock
from shared.stage import Outcome, PermanentError, StageContext

__all__ = ["handle_task_generated"]

# What the Pages wait leaves of the round's work time for the verifier's browser checks.
_CHECKS_SHARE = 0.25
_CHECKS_MAX_S = 60.0

_PREVIEW_DOCKERFILE = """\
# A preview of the generated site, served the way GitHub Pages serves it: static files.
FROM {image}
COPY site/ /usr/share/nginx/html/
"""


async def handle_task_generated(event: TaskGenerated, ctx: StageContext) -> Outcome:
    """Publish the job's site; hand the verifier the repository, commit and URL."""
    files = await ctx.store.get_artifact_bytes(job_id=event.job_id)
    workdir = Path(ctx.settings.workspace_dir) / f"task-{event.job_id}-{ctx.delivery}-{ctx.attempt}"
    try:
        not_live = None
        if event.target == "github-pages":
            repo, sha, url, not_live = await _github(event, ctx, files, workdir)
        else:
            repo, sha, url = await _git_preview(event, ctx, files, workdir)
    except (GitHubError, TransientPushError) as exc:
        if isinstance(exc, GitHubError) and not exc.transient:
            raise PermanentError(str(exc)) from exc
        raise RuntimeError(str(exc)) from exc  # transient: the stage retries
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return Outcome(
        status="verifying",
        stage="verifier",
        result={"repo": repo, "commit_sha": sha, "pages_url": url, "pages_live": not not_live},
        next_event=TaskPublished(
            job_id=event.job_id,
            task=event.task,
            target=event.target,
            repo=repo,
            commit_sha=sha,
            pages_url=url,
            attempt=event.attempt,
            placeholder=event.placeholder,
            not_live=not_live,
        ),
        message=(
            f"provisioner: commit {sha[:12]} published at {url}"
            if not not_live
            else f"provisioner: commit {sha[:12]} pushed; {url} not live in time: {not_live}"
        ),
    )


def _author(ctx: StageContext) -> GitAuthor:
    return GitAuthor(ctx.settings.commit_author_name, ctx.settings.commit_author_email)


def _message(event: TaskGenerated) -> str:
    return f"Round {event.task.round}: {event.task.task} (attempt {event.attempt})"


def _pages_deadline(ctx: StageContext) -> datetime:
    """PAGES_TIMEOUT_S from now, cut short so the browser checks still fit in the round."""
    clock = RoundClock.for_job(ctx.job, ctx.settings)
    checks = min(_CHECKS_MAX_S, clock.share_s(_CHECKS_SHARE))
    return min(clock.until(ctx.settings.pages_timeout_s), clock.work_by - timedelta(seconds=checks))


async def _github(
    event: TaskGenerated, ctx: StageContext, files: dict[str, bytes], workdir: Path
) -> tuple[dict[str, Any], str, str, str | None]:
    """Push to GitHub and wait for Pages; the last item says why the site is not live."""
    settings = ctx.settings
    assert settings.github_token is not None
    token = settings.github_token.get_secret_value()
    deadline = _pages_deadline(ctx)
    async with GitHubClient(token, base_url=settings.github_api_url) as gh:
        owner = await gh.get_authenticated_user()
        found = None
        if event.repo:
            found = await gh.find_repo(*str(event.repo["full_name"]).split("/", 1))
            if found is None:
                await ctx.log.warning(
                    f"provisioner: the earlier round's repository {event.repo['full_name']} "
                    "is gone; publishing into a new repository as round 1 would"
                )
        if found is not None:
            repo = found
        else:
            name = repo_name_for(event.task.task, seed=str(event.job_id))
            repo = await gh.find_repo(owner, name) or await gh.create_repo(
                name, event.task.brief[:200]
            )
            await ctx.log.info(f"provisioner: repository {repo.html_url}")
        sha = await push_files(
            repo.clone_url,
            files,
            workdir=workdir,
            token=token,
            author=_author(ctx),
            message=_message(event),
            branch=repo.default_branch or "main",
        )
        await ctx.log.info(f"provisioner: pushed commit {sha[:12]}")
        pages = await gh.enable_pages(repo.owner, repo.name, repo.default_branch or "main")
        not_live = None
        try:
            await gh.request_pages_build(repo.owner, repo.name)
            await gh.wait_for_build(repo.owner, repo.name, commit=sha, deadline=deadline)
            await gh.wait_until_published(pages.html_url, deadline)
        except (GitHubError, PublishTimeout) as exc:
            # The repository and commit exist: the evaluator is told of them all the same.
            not_live = str(exc)
            await ctx.log.warning(f"provisioner: {pages.html_url} is not live in time: {exc}")
    info = {"full_name": repo.full_name, "html_url": repo.html_url, "clone_url": repo.clone_url}
    return info, sha, pages.html_url, not_live


async def _git_preview(
    event: TaskGenerated, ctx: StageContext, files: dict[str, bytes], workdir: Path
) -> tuple[dict[str, Any], str, str]:
    settings = ctx.settings
    if event.repo:
        remote = str(event.repo["clone_url"])
        name = str(event.repo["full_name"])
    else:
        name = repo_name_for(event.task.task, seed=str(event.job_id))
        remote = f"{settings.pages_git_remote.rstrip('/')}/{name}.git"
    token = settings.github_token.get_secret_value() if settings.github_token else None
    sha = await push_files(
        remote,
        files,
        workdir=workdir / "git",
        token=token,
        author=_author(ctx),
        message=_message(event),
        allowed_hosts=settings.allowed_git_hosts,
        create_missing=event.repo is None,
    )
    await ctx.log.info(f"provisioner: pushed commit {sha[:12]} to {remote}")
    url = await _preview(event, ctx, files, workdir / "preview")
    return {"full_name": name, "html_url": remote, "clone_url": remote}, sha, url


async def _preview(
    event: TaskGenerated, ctx: StageContext, files: dict[str, bytes], context: Path
) -> str:
    write_tree(context / "site", files)
    overrides = load_base_image_overrides(ctx.settings.base_image_overrides)
    image = overrides.get("nginx:1.27-alpine", "nginx:1.27-alpine")
    (context / "Dockerfile").write_text(_PREVIEW_DOCKERFILE.format(image=image))
    engine = local_engine(ctx.settings)
    labels = job_labels(event.job_id)
    tag = f"autodeploy/{event.job_id}-preview:latest"
    try:
        await asyncio.to_thread(engine.build, context, tag=tag, on_log=lambda _line: None)
        app = await asyncio.to_thread(
            engine.run,
            tag,
            name=f"autodeploy-{event.job_id}-preview",
            container_port=80,
            env={},
            labels=labels,
            startup_grace_s=0,
        )
    except DeployError as exc:
        raise PermanentError(f"the local preview could not start: {exc}") from exc
    return app.url + "/"
