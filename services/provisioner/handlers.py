"""Provisioner handlers: apply the bundle to its target; tear deployments down."""

from __future__ import annotations

import asyncio
import shutil
import tarfile
from dataclasses import asdict
from pathlib import Path
from typing import Any
from uuid import UUID

from services.analyzer.clone import CloneLimits, clone_repository, repository_token
from services.provisioner.docker_local import (
    SUPPORTED_SERVICES,
    DeployError,
    DockerLocal,
    job_labels,
)
from services.provisioner.tasks import handle_task_generated
from services.provisioner.terraform import (
    PlanOnly,
    PlanPolicyError,
    TerraformError,
    TerraformRunner,
    TerraformTimeout,
)
from services.provisioner.workspace import local_engine, write_tree
from shared import db
from shared.events import JobGenerated, JobProvisioned, JobTeardownRequested, TaskGenerated
from shared.images import load_base_image_overrides
from shared.logs import ThreadLines
from shared.metrics import DEPLOY_OUTCOMES
from shared.safeyaml import load_untrusted_yaml
from shared.security import register_secret
from shared.settings import Settings
from shared.stage import Outcome, PermanentError, Route, StageContext

__all__ = ["build_spec", "routes", "terraform_files"]


def build_spec(files: dict[str, str], default_port: int) -> tuple[str, str, int]:
    """The app service's build context, Dockerfile and container port, from compose.yaml."""
    # The generator renames its files when the repository already has one of that name.
    text = files.get("compose.autodeploy.yaml") or files.get("compose.yaml") or "{}"
    compose = load_untrusted_yaml(text, source="compose.yaml") or {}
    for service in (compose.get("services") or {}).values():
        build = service.get("build") if isinstance(service, dict) else None
        if build is None:
            continue
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context = str(build.get("context", "."))
            dockerfile = str(build.get("dockerfile", "Dockerfile"))
        port = default_port
        for mapping in service.get("ports") or []:
            text = str(mapping.get("target") if isinstance(mapping, dict) else mapping)
            container = text.rsplit(":", 1)[-1].split("/")[0]
            if container.isdigit():
                port = int(container)
                break
        return context, dockerfile, port
    dockerfile = "Dockerfile.autodeploy" if "Dockerfile.autodeploy" in files else "Dockerfile"
    return ".", dockerfile, default_port


async def handle_generated(event: JobGenerated, ctx: StageContext) -> Outcome:
    """Deploy to the local Docker engine (cloud targets stop at the plan without credentials)."""
    analysis = event.analysis
    if analysis.target != "local" and not ctx.settings.cloud_credentials:
        reason = (
            f"target {analysis.target} needs cloud credentials, and none are configured: "
            "nothing was applied; the Terraform is in the job's artifacts"
        )
        return Outcome(
            status="planned",
            stage="provisioner",
            result={"reason": reason},
            message=f"provisioner: {reason}",
        )

    settings = ctx.settings
    attempt_dir = f"provisioner-{event.job_id}-{ctx.delivery}-{ctx.attempt}"
    workdir = Path(settings.workspace_dir) / attempt_dir
    await ctx.log.info(
        f"provisioner: fetching {event.request.repo_url} at {analysis.commit_sha[:12]}"
    )
    await clone_repository(
        event.request.repo_url,
        workdir,
        token=repository_token(event.request, settings),
        allowed_hosts=settings.allowed_git_hosts,
        limits=CloneLimits.from_settings(settings),
        commit=analysis.commit_sha or None,
    )
    try:
        files = await db.get_artifacts(ctx.pool, job_id=event.job_id)
        write_tree(workdir, files)
        try:
            if analysis.target == "local":
                deployment = await _deploy_local(event, ctx, workdir, files)
            else:
                deployment = await _deploy_terraform(event, ctx, workdir, files)
        except Exception:
            DEPLOY_OUTCOMES.labels(analysis.target, "failed").inc()
            raise
        DEPLOY_OUTCOMES.labels(analysis.target, "applied").inc()
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return Outcome(
        status="verifying",
        stage="verifier",
        result={"deployment": deployment},
        next_event=JobProvisioned(
            job_id=event.job_id,
            request=event.request,
            analysis=analysis,
            deployment=deployment,
            attempt=event.attempt,
        ),
        message=f"provisioner: running at {deployment['url']}",
        fields={k: deployment[k] for k in ("target", "url", "image") if k in deployment},
    )


async def _deploy_local(
    event: JobGenerated, ctx: StageContext, workdir: Path, files: dict[str, str]
) -> dict[str, Any]:
    engine = local_engine(ctx.settings)
    labels = job_labels(event.job_id)
    default_port = event.analysis.port.value if event.analysis.port else 8080
    context, dockerfile, port = build_spec(files, default_port)
    tag = f"autodeploy/{event.job_id}:latest"
    env = {"PORT": str(port), **event.analysis.description.env}
    network = None
    wanted: list[str] = sorted({s.kind for s in event.analysis.services})
    try:
        if wanted:
            network = f"autodeploy-{event.job_id}"
            env.update(await _start_services(ctx, engine, wanted, labels=labels, network=network))
        await ctx.log.info(f"provisioner: building image {tag}")
        async with ThreadLines(ctx.log, source="docker build") as on_log:
            image_id = await asyncio.to_thread(
                engine.build,
                workdir / context,
                tag=tag,
                dockerfile=dockerfile,
                labels=labels,
                on_log=on_log,
            )
        app = await asyncio.to_thread(
            engine.run,
            tag,
            name=f"autodeploy-{event.job_id}",
            container_port=port,
            env=env,
            labels=labels,
            network=network,
            # Whether the app stays up is the verifier's question: it waits, reads the
            # logs and names the cause (or hands the job to the repair loop).
            startup_grace_s=0,
        )
    except DeployError as exc:
        raise PermanentError(str(exc)) from exc
    return {"target": "local", "image": tag, "image_id": image_id, **asdict(app)}


def terraform_files(files: dict[str, str], target: str) -> dict[str, str]:
    """Only the target's Terraform, relative to its folder (nothing else may run in plan)."""
    prefix = f"terraform/{target}/"
    return {p[len(prefix) :]: c for p, c in files.items() if p.startswith(prefix)}


def _terraform_runner(
    ctx: StageContext, job_id: UUID, tf_dir: Path, on_log: ThreadLines
) -> TerraformRunner:
    return TerraformRunner(ctx.settings, workdir=tf_dir, job_id=str(job_id), on_log=on_log)


async def _deploy_terraform(
    event: JobGenerated, ctx: StageContext, workdir: Path, files: dict[str, str]
) -> dict[str, Any]:
    target = event.analysis.target
    if target != "aws-ec2":
        raise PermanentError(
            f"applying {target} needs the app image pushed to a registry, which this "
            "version does not do yet: the Terraform is in the job's artifacts"
        )
    tf_files = terraform_files(files, target)
    if not tf_files:
        raise PermanentError(f"the bundle has no terraform/{target}/ folder to apply")
    tf_dir = workdir.parent / f"{workdir.name}-terraform"
    write_tree(tf_dir, tf_files)
    archive = workdir.parent / f"{workdir.name}-bundle.tar.gz"
    await asyncio.to_thread(_archive, workdir, archive)
    await ctx.log.info(
        f"provisioner: terraform for {target} (state: pg backend, workspace job-{event.job_id})"
    )
    try:
        async with ThreadLines(ctx.log, source="terraform") as on_log:
            runner = _terraform_runner(ctx, event.job_id, tf_dir, on_log)
            result = await asyncio.to_thread(
                runner.deploy, variables={"bundle_archive": str(archive)}
            )
    except PlanPolicyError as exc:
        raise PermanentError(str(exc)) from exc
    except TerraformTimeout:
        raise  # transient: the stage retries; the plan is idempotent in the same workspace
    except TerraformError as exc:
        raise PermanentError(str(exc)) from exc
    finally:
        # tfplan and .terraform/ hold variable values in clear text.
        await asyncio.to_thread(shutil.rmtree, tf_dir, True)
        archive.unlink(missing_ok=True)
    if isinstance(result, PlanOnly):
        raise PermanentError(result.reason)
    return {"target": target, "url": result.url, "outputs": result.outputs}


def _archive(source: Path, dest: Path) -> None:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(source, arcname=".", filter=lambda i: None if i.name.startswith("./.git") else i)


async def _teardown_terraform(
    event: JobTeardownRequested, ctx: StageContext, target: str
) -> dict[str, Any]:
    files = await db.get_artifacts(ctx.pool, job_id=event.job_id)
    tf_dir = Path(ctx.settings.workspace_dir) / f"teardown-{event.job_id}-{ctx.delivery}"
    write_tree(tf_dir, terraform_files(files, target))
    placeholder = tf_dir / "bundle-placeholder.tar.gz"
    await asyncio.to_thread(_archive, tf_dir, placeholder)
    try:
        async with ThreadLines(ctx.log, source="terraform") as on_log:
            await asyncio.to_thread(
                _terraform_runner(ctx, event.job_id, tf_dir, on_log).destroy,
                variables={"bundle_archive": str(placeholder)},
            )
    except TerraformError as exc:
        raise PermanentError(str(exc)) from exc
    finally:
        await asyncio.to_thread(shutil.rmtree, tf_dir, True)
    return {"terraform": "destroyed", "workspace": f"job-{event.job_id}"}


async def _start_services(
    ctx: StageContext,
    engine: DockerLocal,
    kinds: list[str],
    *,
    labels: dict[str, str],
    network: str,
) -> dict[str, str]:
    """Start the backing services the analysis found; return the env the app reaches them by."""
    env: dict[str, str] = {}
    overrides = load_base_image_overrides(ctx.settings.base_image_overrides)
    for kind in kinds:
        if kind not in SUPPORTED_SERVICES:
            await ctx.log.warning(
                f"provisioner: the app needs {kind}, which the local target does not start "
                f"(it starts {', '.join(sorted(SUPPORTED_SERVICES))}); compose.yaml has it"
            )
            continue
        await ctx.log.info(f"provisioner: starting {kind} for the app")
        service = await asyncio.to_thread(
            engine.start_service, kind, labels=labels, network=network, image_overrides=overrides
        )
        for value in service.env.values():
            register_secret(value)  # connection strings carry the generated password
        env.update(service.env)
        await ctx.log.info(
            f"provisioner: {kind} ready as '{service.alias}'", variables=sorted(service.env)
        )
    return env


async def handle_teardown(event: JobTeardownRequested, ctx: StageContext) -> Outcome:
    """Remove every container, network and image of the job (idempotent)."""
    analysis = ctx.job.get("analysis") or {}
    target = analysis.get("target", "local")
    deployed = ((ctx.job.get("result") or {}).get("deployment") or {}).get("target")
    if target != "local" and deployed == target and ctx.settings.cloud_credentials:
        removed_cloud = await _teardown_terraform(event, ctx, target)
        return Outcome(
            status="destroyed",
            stage="provisioner",
            result={"teardown": removed_cloud},
            message=f"provisioner: terraform destroy of workspace job-{event.job_id} done",
        )
    try:
        report = await asyncio.to_thread(
            local_engine(ctx.settings).teardown, job_labels(event.job_id)
        )
    except DeployError as exc:
        raise PermanentError(str(exc)) from exc
    if not report.complete:
        raise RuntimeError(f"teardown left things behind: {'; '.join(report.errors)}")
    removed = asdict(report)
    return Outcome(
        status="destroyed",
        stage="provisioner",
        result={"teardown": removed},
        message=(
            "provisioner: removed "
            f"{len(report.containers)} containers, {len(report.networks)} networks, "
            f"{len(report.images)} images"
        ),
    )


def routes(settings: Settings) -> list[Route]:
    """The provisioner's routes: repository jobs and brief-to-site tasks."""
    for target in ("local", "aws-ec2", "aws-serverless", "kubernetes"):
        for outcome in ("applied", "failed"):
            DEPLOY_OUTCOMES.labels(target, outcome)  # exported at zero from the start
    return [
        Route(JobGenerated, handle_generated, working_status="provisioning"),
        Route(
            JobTeardownRequested,
            handle_teardown,
            working_status="destroying",
            runs_on_ended_jobs=True,
        ),
        Route(TaskGenerated, handle_task_generated, working_status="provisioning"),
    ]
