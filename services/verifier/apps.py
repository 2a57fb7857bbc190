"""After a healthy revision: move its app's stable URL onto it, then retire the old one.

Runs only once the health check passed, so a revision that fails its build or its check
never takes traffic: the old one keeps serving. The app's row stays locked during the
switch, so two revisions of one app finishing together switch one after the other, and
an older revision that finishes last never replaces a newer one.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from shared.events import JobProvisioned
from shared.proxy import ProxyError, proxy_from_settings
from shared.stage import PermanentError, StageContext

__all__ = ["promote"]


async def promote(event: JobProvisioned, ctx: StageContext) -> dict[str, Any] | None:
    """Serve the app's URL from this revision; what the job's result says of its app."""
    deployment = event.deployment
    app_id = await ctx.store.get_app_id(job_id=event.job_id)
    if app_id is None or deployment.get("target") != "local" or not deployment.get("host_port"):
        return None
    proxy = proxy_from_settings(ctx.settings)
    upstream_host = "127.0.0.1" if proxy.listen in ("0.0.0.0", "::") else proxy.listen
    url_host = urlsplit(str(deployment["url"])).hostname or "127.0.0.1"
    async with ctx.store.switching_app(app_id=app_id) as switch:
        app = switch.app
        if app is None or app["deleted_at"] is not None:
            return None
        summary = {"name": app["name"], "revision": str(event.job_id)}
        current: UUID | None = app["current_job_id"]
        if (
            current is not None
            and current != event.job_id
            and await switch.newer(current=current, job_id=event.job_id)
        ):
            await ctx.log.info(f"verifier: app {app['name']} already serves a newer revision")
            return summary | {"serving": False}
        upstream = f"{upstream_host}:{deployment['host_port']}"
        try:
            first = await asyncio.to_thread(
                proxy.serve_first,
                app_id=str(app_id),
                name=app["name"],
                port=app["proxy_port"],
                upstream=upstream,
                revision=str(event.job_id),
            )
            if first is not None:
                port = first
            else:
                port = await asyncio.to_thread(
                    proxy.ensure, app_id=str(app_id), name=app["name"], port=app["proxy_port"]
                )
                await asyncio.to_thread(
                    proxy.switch,
                    app_id=str(app_id),
                    port=port,
                    upstream=upstream,
                    revision=str(event.job_id),
                )
        except ProxyError as exc:
            raise PermanentError(
                f"the revision is healthy but app {app['name']}'s URL could not switch to "
                f"it ({exc}); the previous revision still serves"
            ) from exc
        await switch.set_current(job_id=event.job_id, proxy_port=port)
        url = f"http://{url_host}:{port}"
        await ctx.log.info(f"verifier: app {app['name']} now serves this revision at {url}")
        if current is not None and current != event.job_id:
            await switch.retire(job_id=current)
            await ctx.log.info(f"verifier: revision {current} of app {app['name']} goes")
    return summary | {"serving": True, "url": url}
