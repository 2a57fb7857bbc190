"""Provisioner handlers: apply the bundle to its target; tear deployments down."""

from __future__ import annotations

import asyncio
import posixpath
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg

from services.provisioner import apps, terraform_pin
from services.provisioner.cloud import (
    checked_terraform_files,
    deploy_cloud,
    teardown_cloud,
    terraform_files,
)
from services.provisioner.reaper import start_reaper
from services.provisioner.tasks import handle_task_generated
from shared.bus import Broker
from shared.capabilities.compose_project import (
    ComposeError,
    ComposeService,
    front_service,
    load_compose_project,
    resolve_env_files,
    without_unavailable,
)
from shared.capabilities.docker_local import (
    SUPPORTED_SERVICES,
    DockerLocal,
    job_labels,
)
from shared.capabilities.git import (
    CloneLimits,
    adopt_first_clone,
    clone_repository,
    clone_warm,
    first_clone_dir,
    kept_clone_dir,
    remove_kept_clone,
    repository_token,
)
from shared.capabilities.workspace import local_engine, write_tree
from shared.contracts.errors import DeployError
from shared.events import JobGenerated, JobProvisioned, JobTeardownRequested, TaskGenerated
from shared.images import (
    apply_base_image_overrides,
    dockerfile_base_images,
    load_base_image_overrides,
    load_base_image_runtimes,
    older_local_image,
)
from shared.logs import ThreadLines
from shared.metrics import DEPLOY_OUTCOMES
from shared.outbox import OutboxRelay
from shared.safeyaml import load_untrusted_yaml
from shared.security import register_secret
from shared.settings import Settings
from shared.stage import Outcome, PermanentError, Route, StageContext

__all__ = [
    "build_context",
    "build_spec",
    "checked_terraform_files",
    "on_start",
    "routes",
    "terraform_files",
]


def build_spec(
    files: dict[str, str], default_port: int, *, base_compose: str | None = None
) -> tuple[str, str, int]:
    """The app service's build context, Dockerfile and container port, from compose.yaml.

    When the generated file only layers on the repository's own compose file
    (``base_compose``, its text), a service's build comes from that file.
    """
    # The generator renames its files when the repository already has one of that name.
    text = files.get("compose.autodeploy.yaml") or files.get("compose.yaml") or "{}"
    compose = load_untrusted_yaml(text, source="compose.yaml") or {}
    base = load_untrusted_yaml(base_compose, source="compose.yaml") if base_compose else None
    base_services = (base.get("services") if isinstance(base, dict) else None) or {}
    for name, service in (compose.get("services") or {}).items():
        build = service.get("build") if isinstance(service, dict) else None
        if build is None and isinstance(base_services.get(name), dict):
            build = base_services[name].get("build")
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


def build_context(workdir: Path, context: str) -> Path:
    """``workdir / context``, refused unless it stays in the job's folder (symlinks too)."""
    path = workdir / context
    if not path.resolve().is_relative_to(workdir.resolve()):
        raise DeployError(
            f"the build context {context!r} resolves outside the job's folder; "
            "a build may only read the repository and the generated files"
        )
    return path


async def handle_generated(event: JobGenerated, ctx: StageContext) -> Outcome:
    """Deploy to the local Docker engine (cloud targets stop at the plan without credentials)."""
    analysis = event.analysis
    if analysis.target != "local" and not ctx.settings.cloud_credentials:
        reason = (
            f"target {analysis.target} needs cloud credentials, and none are configured: "
            "nothing was applied; the Terraform is in the job's artifacts"
        )
        first = first_clone_dir(ctx.settings.workspace_dir, event.job_id)
        await asyncio.to_thread(remove_kept_clone, first)  # no app will adopt it
        return Outcome(
            status="planned",
            stage="provisioner",
            result={"reason": reason},
            message=f"provisioner: {reason}",
        )

    settings = ctx.settings
    app_id = await apps.join(event, ctx)
    attempt_dir = f"provisioner-{event.job_id}-{ctx.delivery}-{ctx.attempt}"
    workdir = Path(settings.workspace_dir) / attempt_dir
    await ctx.log.info(
        f"provisioner: fetching {event.request.repo_url} at {analysis.commit_sha[:12]}"
    )
    token = repository_token(event.request, settings)
    limits = CloneLimits.from_settings(settings)
    commit = analysis.commit_sha or None
    if settings.kept_clones > 0:
        kept = kept_clone_dir(settings.workspace_dir, app_id)
        first = first_clone_dir(settings.workspace_dir, event.job_id)
        if first.exists():  # the analyzer's clone of the app's first revision
            await asyncio.to_thread(adopt_first_clone, first, kept)
        _, warm = await clone_warm(
            event.request.repo_url,
            workdir,
            kept=kept,
            keep_at_most=settings.kept_clones,
            token=token,
            allowed_hosts=settings.allowed_git_hosts,
            limits=limits,
            commit=commit,
        )
        if warm:
            await ctx.log.info("provisioner: checked out from the app's kept clone", warm=True)
    else:
        await clone_repository(
            event.request.repo_url,
            workdir,
            token=token,
            allowed_hosts=settings.allowed_git_hosts,
            limits=limits,
            commit=commit,
        )
    try:
        files = await ctx.store.get_artifacts(job_id=event.job_id)
        write_tree(workdir, files)
        try:
            if analysis.target == "local":
                # The app's proxy starts only once a revision is healthy (the verifier's
                # switch): a first deploy that fails leaves no proxy running.
                deployment = await _deploy_local(event, ctx, workdir, files)
            else:
                default_port = analysis.port.value if analysis.port else 8080
                context, dockerfile, _ = build_spec(files, default_port)
                deployment = await deploy_cloud(
                    event, ctx, workdir, files, build=(context, dockerfile)
                )
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


def _repo_text(workdir: Path, rel: str) -> str | None:
    """A small text file of the checkout, or None (absent, outside it, or too large)."""
    root = workdir.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file() or path.stat().st_size > 1 << 20:
        return None
    return path.read_text(errors="replace")


async def _unavailable_services(
    services: list[ComposeService],
    workdir: Path,
    engine: DockerLocal,
    overrides: Mapping[str, str],
    runtimes: Mapping[str, str],
    notes: list[str],
) -> dict[str, str]:
    """Service name -> the image it needs that this engine lacks (nothing is pulled here).

    An ``image:`` service needs its image (after BASE_IMAGE_OVERRIDES; each mapping is
    noted), a built one the base images its Dockerfile names.
    """
    needs: dict[str, list[tuple[str, str]]] = {}  # service -> [(as written, mapped)]
    for svc in services:
        if svc.image is not None:
            written = [svc.image]
        else:
            path = posixpath.join(svc.build_context or ".", svc.dockerfile)
            text = _repo_text(workdir, path) or ""
            written = [image for image in dockerfile_base_images(text) if image != "scratch"]
        pairs = [(image, apply_base_image_overrides(image, overrides)) for image in written]
        needs[svc.name] = pairs
        for before, after in pairs:
            if svc.image is not None and after != before:
                runs = runtimes.get(after)
                notes.append(
                    f"compose service {svc.name}: image {before} -> {after}"
                    + (f" ({runs})" if runs else "")
                    + " (BASE_IMAGE_OVERRIDES)"
                )
    wanted = sorted({after for pairs in needs.values() for _, after in pairs})
    try:
        absent = set(await asyncio.to_thread(engine.absent_images, wanted))
    except DeployError as exc:
        raise PermanentError(str(exc)) from exc
    missing: dict[str, str] = {}
    for svc in services:
        lacking = [
            before if after == before else f"{before} (mapped to {after})"
            for before, after in needs[svc.name]
            if after in absent
        ]
        if lacking:
            what = ", ".join(lacking)
            missing[svc.name] = what if svc.image else f"{what} (a base image of its Dockerfile)"
    return missing


async def _deploy_compose_project(
    event: JobGenerated, ctx: StageContext, workdir: Path, compose_file: str
) -> dict[str, Any]:
    """Run the repository's own multi-service compose file as the job's project."""
    engine = local_engine(ctx.settings)
    overrides = load_base_image_overrides(ctx.settings.base_image_overrides)
    notes: list[str] = []
    try:
        services = load_compose_project(workdir, compose_file)
        missing = await _unavailable_services(
            services,
            workdir,
            engine,
            overrides,
            load_base_image_runtimes(ctx.settings.base_image_overrides),
            notes,
        )
        services, left_out = without_unavailable(services, missing)
        notes += left_out
        front = front_service(services)
    except (OSError, ComposeError) as exc:
        for note in notes:
            await ctx.log.info(f"provisioner: {note}")
        raise PermanentError(f"the repository's {compose_file} cannot be deployed: {exc}") from exc
    for note in notes + resolve_env_files(services, lambda rel: _repo_text(workdir, rel)):
        await ctx.log.info(f"provisioner: {note}")
    await ctx.log.info(
        f"provisioner: deploying {compose_file} as a compose project: "
        + ", ".join(s.name for s in services)
        + f"; front service {front.name} (container port {front.container_ports[0]})"
    )
    project = f"autodeploy-{event.job_id}"
    try:
        async with ThreadLines(ctx.log, source="compose") as on_log:
            app = await asyncio.to_thread(
                engine.run_compose_project,
                workdir,
                services,
                front=front,
                project=project,
                labels=job_labels(event.job_id),
                on_log=on_log,
                image_overrides=overrides,
            )
    except DeployError as exc:
        raise PermanentError(str(exc)) from exc
    return {
        "target": "local",
        "image": app.image,
        "compose_project": project,
        "services": [s.name for s in services],
        "services_left_out": sorted(missing),
        "front_service": front.name,
        **asdict(app),
    }


async def _deploy_local(
    event: JobGenerated, ctx: StageContext, workdir: Path, files: dict[str, str]
) -> dict[str, Any]:
    docker_setup = event.analysis.docker
    if event.analysis.framework == "compose" and docker_setup and docker_setup.compose_file:
        return await _deploy_compose_project(event, ctx, workdir, docker_setup.compose_file)
    engine = local_engine(ctx.settings)
    labels = job_labels(event.job_id)
    default_port = event.analysis.port.value if event.analysis.port else 8080
    base_compose = None
    if docker_setup and docker_setup.compose_file and "compose.autodeploy.yaml" in files:
        base_compose = _repo_text(workdir, docker_setup.compose_file)
    context, dockerfile, port = build_spec(files, default_port, base_compose=base_compose)
    tag = f"autodeploy/{event.job_id}:latest"
    env = {"PORT": str(port), **event.analysis.description.env}
    network = None
    # An optional service (the code uses it only when a variable is set) is not started.
    wanted: list[str] = sorted(event.analysis.needed_service_kinds())
    try:
        if wanted:
            network = f"autodeploy-{event.job_id}"
            env.update(await _start_services(ctx, engine, wanted, labels=labels, network=network))
        await ctx.log.info(f"provisioner: building image {tag}")
        # The generator already mapped the base images of a Dockerfile it wrote.
        generated = posixpath.normpath(posixpath.join(context, dockerfile)) in files
        overrides = load_base_image_overrides(ctx.settings.base_image_overrides)
        runtimes = load_base_image_runtimes(ctx.settings.base_image_overrides)
        older: dict[str, tuple[str, str]] = {}
        if generated and event.analysis.language == "python" and not event.analysis.runtime_version:
            # No version declared: the generator took the newest local Python, where pins
            # older than it may have no wheels; the build may move to the next older one.
            text = (build_context(workdir, context) / dockerfile).read_text(errors="replace")
            older = {
                image: found
                for image in dockerfile_base_images(text)
                if (found := older_local_image(image, runtimes)) is not None
            }
        async with ThreadLines(ctx.log, source="docker build") as on_log:
            image_id = await asyncio.to_thread(
                engine.build,
                build_context(workdir, context),
                tag=tag,
                dockerfile=dockerfile,
                on_log=on_log,
                image_overrides=None if generated else overrides,
                image_runtimes=runtimes,
                older_images=older,
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
    # The verifier names these if the app then fails: a crash is read as their absence.
    not_started = [kind for kind in wanted if kind not in SUPPORTED_SERVICES]
    return {
        "target": "local",
        "image": tag,
        "image_id": image_id,
        **asdict(app),
        "services_not_started": not_started,
    }


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
        files = await ctx.store.get_artifacts(job_id=event.job_id)
        removed_cloud = await teardown_cloud(event.job_id, ctx, target, files)
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
    await apps.after_teardown(event, ctx)
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


async def on_start(
    settings: Settings, pool: asyncpg.Pool, broker: Broker, relay: OutboxRelay
) -> None:
    """Check the pinned Terraform (one log line), then start the stale-job reaper."""
    await terraform_pin.on_start(settings)
    await start_reaper(settings, local_engine(settings), pool)


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
