"""The provisioner's side of apps: a deploying job joins its app; a teardown may end its URL."""

from __future__ import annotations

import asyncio
from uuid import UUID

from shared.capabilities.git import kept_clone_dir, remove_kept_clone
from shared.events import JobGenerated, JobTeardownRequested
from shared.proxy import ProxyError, proxy_from_settings
from shared.stage import StageContext

__all__ = ["after_teardown", "join"]


async def join(event: JobGenerated, ctx: StageContext) -> UUID:
    """Make the job a revision of its app (created on the repository's first deploy); its id."""
    app = await ctx.store.join_app(
        job_id=event.job_id,
        request=event.request,
        app_root=event.analysis.app_root,
        target=event.analysis.target,
    )
    name = str(app["name"])
    await ctx.log.info(f"provisioner: a revision of app {name}", app=name)
    return UUID(str(app["id"]))


async def after_teardown(event: JobTeardownRequested, ctx: StageContext) -> None:
    """Remove the app's proxy when the app is deleted or its serving revision just went."""
    row = await ctx.store.get_job_app(job_id=event.job_id)
    if row is None or (row["deleted_at"] is None and row["current_job_id"] != event.job_id):
        return
    if row["deleted_at"] is not None:
        kept = kept_clone_dir(ctx.settings.workspace_dir, row["id"])
        if await asyncio.to_thread(remove_kept_clone, kept):
            await ctx.log.info(f"provisioner: removed the kept clone of app {row['name']}")
    try:
        removed = await asyncio.to_thread(
            proxy_from_settings(ctx.settings).remove, app_id=str(row["id"])
        )
    except ProxyError as exc:
        raise RuntimeError(f"the proxy of app {row['name']} could not be removed: {exc}") from exc
    if removed:
        await ctx.log.info(f"provisioner: removed the proxy of app {row['name']}")
