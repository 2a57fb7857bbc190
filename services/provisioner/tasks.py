"""Provisioner for brief-to-site tasks: push the site and get it served.

`github-pages`: a new public repository (round 1) or the round-1 one (round 2), the
token sent as an HTTP header, Pages enabled and built, polled until it answers.
`git-preview`: the same push to PAGES_GIT_REMOTE (any git smart-HTTP server) and a
local preview container on the Docker engine, for machines without GitHub.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.provisioner.docker_local import DeployError, job_labels
from services.provisioner.github import (
    GitHubClient,
    GitHubError,
    PublishTimeout,
    repo_name_for,
)
from services.provisioner.gitpush import GitAuthor, TransientPushError, push_files
from services.provisioner.workspace import local_engine, write_tree
from shared import db
from shared.events import TaskGenerated, TaskPublished
from shared.images import load_base_image_overrides
from shared.stage import Outcome, PermanentError, StageContext

__all__ = ["handle_task_generated"]

_PREVIEW_DOCKERFILE = """\
# A preview of the generated site, served the way GitHub Pages serves it: static files.
FROM {image}
COPY site/ /usr/share/nginx/html/
"""


async def handle_task_generated(event: TaskGenerated, ctx: StageContext) -> Outcome:
    """Publish the job's site; hand the verifier the repository, commit and URL."""
    files = await db.get_artifact_bytes(ctx.pool, job_id=event.job_id)
    workdir = Path(ctx.settings.workspace_dir) / f"task-{event.job_id}-{ctx.delivery}-{ctx.attempt}"
    try:
        if event.target == "github-pages":
            repo, sha, url = await _github(event, ctx, files, workdir)
        else:
            repo, sha, url = await _git_preview(event, ctx, files, workdir)
    except (GitHubError, PublishTimeout, TransientPushError) as exc:
        if isinstance(exc, GitHubError) and not exc.transient:
            raise PermanentError(str(exc)) from exc
        raise RuntimeError(str(exc)) from exc  # transient: the stage retries
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return Outcome(
        status="verifying",
        stage="verifier",
        result={"repo": repo, "commit_sha": sha, "pages_url": url},
        next_event=TaskPublished(
            job_id=event.job_id,
            task=event.task,
            target=event.target,
            repo=repo,
            commit_sha=sha,
            pages_url=url,
            attempt=event.attempt,
        ),
        message=f"provisioner: commit {sha[:12]} published at {url}",
    )


def _author(ctx: StageContext) -> GitAuthor:
    return GitAuthor(ctx.settings.commit_author_name, ctx.settings.commit_author_email)


def _message(event: TaskGenerated) -> str:
    return f"Round {event.task.round}: {event.task.task} (attempt {event.attempt})"


async def _github(
    event: TaskGenerated, ctx: StageContext, files: dict[str, bytes], workdir: Path
) -> tuple[dict[str, Any], str, str]:
    settings = ctx.settings
    assert settings.github_token is not None
    token = settings.github_token.get_secret_value()
    deadline = datetime.now(UTC) + timedelta(seconds=settings.pages_timeout_s)
    async with GitHubClient(token, base_url=settings.github_api_url) as gh:
        owner = await gh.get_authenticated_user()
        if event.repo:
            found = await gh.find_repo(*str(event.repo["full_name"]).split("/", 1))
            if found is None:
                raise PermanentError(f"the round-1 repository {event.repo['full_name']} is gone")
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
        await gh.request_pages_build(repo.owner, repo.name)
        await gh.wait_for_build(repo.owner, repo.name, commit=sha, deadline=deadline)
        await gh.wait_until_published(pages.html_url, deadline)
    info = {"full_name": repo.full_name, "html_url": repo.html_url, "clone_url": repo.clone_url}
    return info, sha, pages.html_url


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
        await asyncio.to_thread(
            engine.build, context, tag=tag, labels=labels, on_log=lambda _line: None
        )
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
