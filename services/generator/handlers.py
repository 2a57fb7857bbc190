"""Generator handlers: write the bundle for the analysed app, validate it, store it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from services.generator.bundle import generate_bundle, validate_bundle
from shared.events import JobAnalyzed, JobGenerated
from shared.settings import Settings
from shared.stage import Outcome, PermanentError, Route, StageContext

__all__ = ["load_base_image_overrides", "routes"]


def load_base_image_overrides(setting: str) -> dict[str, str]:
    """BASE_IMAGE_OVERRIDES: a JSON object, or the path of a JSON file holding one."""
    if not setting.strip():
        return {}
    text = setting if setting.lstrip().startswith("{") else Path(setting).read_text()
    mapping = json.loads(text)
    if not isinstance(mapping, dict):
        raise ValueError("BASE_IMAGE_OVERRIDES must be a JSON object of image → image")
    return {str(k): str(v) for k, v in mapping.items() if not str(k).startswith("_")}


async def handle_analyzed(event: JobAnalyzed, ctx: StageContext) -> Outcome:
    """Generate and validate the bundle; stop here in plan mode."""
    overrides = load_base_image_overrides(ctx.settings.base_image_overrides)
    files = generate_bundle(event.analysis, job_id=str(event.job_id), base_images=overrides)
    await ctx.log.info(f"generator: wrote {len(files)} files", files=sorted(files))
    violations = await asyncio.to_thread(validate_bundle, files)
    if violations:
        listed = "; ".join(str(v) for v in violations[:10])
        raise PermanentError(f"the generated bundle failed validation: {listed}")
    await ctx.log.info(
        "generator: bundle validated (hadolint, shellcheck, compose, terraform policy)"
    )
    if event.request.mode == "plan":
        return Outcome(
            status="planned",
            stage="generator",
            artifacts=files,
            message="generator: plan ready; nothing applied (mode=plan)",
        )
    return Outcome(
        status="provisioning",
        stage="provisioner",
        artifacts=files,
        next_event=JobGenerated(
            job_id=event.job_id,
            request=event.request,
            analysis=event.analysis,
            artifact_paths=sorted(files),
        ),
        message=f"generator: bundle of {len(files)} files ready for target {event.analysis.target}",
    )


def routes(settings: Settings) -> list[Route]:
    """The generator's routes."""
    return [Route(JobAnalyzed, handle_analyzed, working_status="generating")]
