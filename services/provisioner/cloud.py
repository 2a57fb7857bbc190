"""Applying a cloud target with Terraform, the app image pushed first where one is needed.

aws-ec2 ships the bundle to a VM that builds it there. The container targets run a built
image instead, so before their full plan can name it the image must be in a registry
the platform pulls from:

- aws-serverless, and kubernetes on EKS: a first apply limited to the job's ECR
  repository (``-target=aws_ecr_repository.app``), a push token from ECR's API, the
  image built here once, tagged with the analysed commit and pushed; then the full
  plan with ``image_tag`` = that commit;
- kubernetes on a cluster of yours: the image goes to KUBERNETES_IMAGE_REGISTRY and the
  full plan gets its reference as ``image``.

Every plan, the limited one too, passes the plan policy and the cost check before apply.
"""

from __future__ import annotations

import asyncio
import shutil
import tarfile
from pathlib import Path
from typing import Any

from services.provisioner.terraform import (
    Applied,
    PlanOnly,
    PlanPolicyError,
    TerraformError,
    TerraformRunner,
    TerraformTimeout,
)
from shared.capabilities.docker_local import job_labels
from shared.capabilities.plan_policy import check_before_init
from shared.capabilities.workspace import local_engine, write_tree
from shared.contracts.errors import DeployError
from shared.events import JobGenerated
from shared.images import load_base_image_overrides
from shared.logs import ThreadLines
from shared.registry import RegistryAuth, RegistryError, ecr_auth, push_image
from shared.stage import PermanentError, StageContext

__all__ = [
    "CONTAINER_TARGETS",
    "ECR_RESOURCE",
    "checked_terraform_files",
    "deploy_cloud",
    "teardown_cloud",
    "terraform_files",
]

CONTAINER_TARGETS = frozenset({"aws-serverless", "kubernetes"})
ECR_RESOURCE = "aws_ecr_repository.app"


def terraform_files(files: dict[str, str], target: str) -> dict[str, str]:
    """Only the target's Terraform, relative to its folder (nothing else may run in plan)."""
    prefix = f"terraform/{target}/"
    return {p[len(prefix) :]: c for p, c in files.items() if p.startswith(prefix)}


def checked_terraform_files(files: dict[str, str], target: str) -> dict[str, str]:
    """The target's Terraform, once it passes the policy again (before init reads it)."""
    tf_files = terraform_files(files, target)
    if not tf_files:
        raise PermanentError(f"the bundle has no terraform/{target}/ folder to apply")
    violations = check_before_init(tf_files)
    if violations:
        listed = "; ".join(str(v) for v in violations[:5])
        raise PermanentError(f"the Terraform for {target} breaks the policy: {listed}")
    return tf_files


def _uses_ecr(tf_files: dict[str, str]) -> bool:
    resource_type, name = ECR_RESOURCE.split(".")
    return any(f'resource "{resource_type}" "{name}"' in text for text in tf_files.values())


def _archive(source: Path, dest: Path) -> None:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(source, arcname=".", filter=lambda i: None if i.name.startswith("./.git") else i)


def _runner(
    ctx: StageContext, job_id: object, tf_dir: Path, on_log: ThreadLines
) -> TerraformRunner:
    return TerraformRunner(ctx.settings, workdir=tf_dir, job_id=str(job_id), on_log=on_log)


async def _push(
    event: JobGenerated,
    ctx: StageContext,
    runner: TerraformRunner,
    *,
    build: tuple[Path, str],
    uses_ecr: bool,
    on_log: ThreadLines,
) -> dict[str, str]:
    """Build the image, make sure its registry exists, push it; the plan's image variables."""
    settings = ctx.settings
    commit = event.analysis.commit_sha or "latest"
    local_tag = f"autodeploy/{event.job_id}:{commit[:12]}"
    engine = local_engine(settings)
    await ctx.log.info(f"provisioner: building image {local_tag} to push")
    context, dockerfile = build
    async with ThreadLines(ctx.log, source="docker build") as on_build:
        await asyncio.to_thread(
            engine.build,
            context,
            tag=local_tag,
            dockerfile=dockerfile,
            on_log=on_build,
            # A repository's own Dockerfile builds from the mapped base images too.
            image_overrides=load_base_image_overrides(settings.base_image_overrides),
        )
    auth: RegistryAuth | None = None
    if uses_ecr:
        await ctx.log.info(f"provisioner: creating the job's ECR repository ({ECR_RESOURCE})")
        first = await asyncio.to_thread(runner.deploy, targets=[ECR_RESOURCE])
        if not isinstance(first, Applied):
            raise PermanentError(first.reason)
        repository = str(first.outputs.get("ecr_repository_url") or "")
        if not repository:
            raise PermanentError("the ECR repository was applied but gave no ecr_repository_url")
        assert settings.aws_access_key_id and settings.aws_secret_access_key  # cloud creds
        auth = await asyncio.to_thread(
            ecr_auth,
            region=first.region or "ca-central-1",
            access_key_id=settings.aws_access_key_id.get_secret_value(),
            secret_access_key=settings.aws_secret_access_key.get_secret_value(),
            endpoint_url=settings.aws_endpoint_url or None,
        )
        variables = {"image_tag": commit}
    else:
        registry = settings.kubernetes_image_registry.strip().rstrip("/")
        if not registry:
            raise PermanentError(
                "kubernetes on a cluster of yours needs a registry the cluster pulls from: "
                "set KUBERNETES_IMAGE_REGISTRY (host[:port][/path]), or ask for EKS"
            )
        repository = f"{registry}/autodeploy-{event.job_id}"
        variables = {"image": f"{repository}:{commit}"}
        if settings.kubeconfig_path:
            variables["kubeconfig_path"] = settings.kubeconfig_path
    pushed = await asyncio.to_thread(
        push_image,
        engine.client,
        local_tag,
        repository=repository,
        tag=commit,
        auth=auth,
        on_log=on_log,
    )
    await ctx.log.info(f"provisioner: image pushed as {pushed}")
    return variables


async def deploy_cloud(
    event: JobGenerated,
    ctx: StageContext,
    workdir: Path,
    files: dict[str, str],
    *,
    build: tuple[str, str],
) -> dict[str, Any]:
    """Apply the job's cloud target; the deployment (target, url, outputs, cost, image)."""
    target = event.analysis.target
    tf_files = checked_terraform_files(files, target)
    tf_dir = workdir.parent / f"{workdir.name}-terraform"
    write_tree(tf_dir, tf_files)
    archive = workdir.parent / f"{workdir.name}-bundle.tar.gz"
    variables: dict[str, str] = {}
    if target == "aws-ec2":  # the VM fetches the bundle and builds it there
        await asyncio.to_thread(_archive, workdir, archive)
        variables["bundle_archive"] = str(archive)
    await ctx.log.info(
        f"provisioner: terraform for {target} (state: pg backend, workspace job-{event.job_id})"
    )
    try:
        async with ThreadLines(ctx.log, source="terraform") as on_log:
            runner = _runner(ctx, event.job_id, tf_dir, on_log)
            if target in CONTAINER_TARGETS:
                context, dockerfile = build
                variables.update(
                    await _push(
                        event,
                        ctx,
                        runner,
                        build=(workdir / context, dockerfile),
                        uses_ecr=_uses_ecr(tf_files),
                        on_log=on_log,
                    )
                )
            result = await asyncio.to_thread(runner.deploy, variables=variables)
    except PlanPolicyError as exc:
        raise PermanentError(str(exc)) from exc
    except TerraformTimeout:
        raise  # transient: the stage retries; the plan is idempotent in the same workspace
    except (TerraformError, RegistryError, DeployError) as exc:
        raise PermanentError(str(exc)) from exc
    finally:
        # tfplan and .terraform/ hold variable values in clear text.
        await asyncio.to_thread(shutil.rmtree, tf_dir, True)
        archive.unlink(missing_ok=True)
    if isinstance(result, PlanOnly):
        raise PermanentError(result.reason)
    deployment: dict[str, Any] = {"target": target, "url": result.url, "outputs": result.outputs}
    if "image" in variables or "image_tag" in variables:
        deployment["image_tag"] = variables.get("image_tag") or variables["image"]
    if result.cost is not None:
        deployment["cost"] = result.cost.as_dict()
    return deployment


def _teardown_variables(target: str, tf_dir: Path, settings_kubeconfig: str) -> dict[str, str]:
    """What destroy needs for variables without a default (their values do not matter)."""
    if target == "aws-ec2":
        placeholder = tf_dir / "bundle-placeholder.tar.gz"
        _archive(tf_dir, placeholder)
        return {"bundle_archive": str(placeholder)}
    variables = {}
    if 'variable "image"' in "".join(p.read_text() for p in tf_dir.glob("*.tf")):
        variables["image"] = "destroyed:latest"
    if settings_kubeconfig:
        variables["kubeconfig_path"] = settings_kubeconfig
    return variables


async def teardown_cloud(
    job_id: object, ctx: StageContext, target: str, files: dict[str, str]
) -> dict[str, Any]:
    """``terraform destroy`` of the job's workspace, then its images on the local engine."""
    tf_dir = Path(ctx.settings.workspace_dir) / f"teardown-{job_id}-{ctx.delivery}"
    write_tree(tf_dir, terraform_files(files, target))
    try:
        variables = await asyncio.to_thread(
            _teardown_variables, target, tf_dir, ctx.settings.kubeconfig_path
        )
        async with ThreadLines(ctx.log, source="terraform") as on_log:
            await asyncio.to_thread(
                _runner(ctx, job_id, tf_dir, on_log).destroy, variables=variables
            )
        # The image built to push, if any: nothing of the job stays on this engine either.
        await asyncio.to_thread(local_engine(ctx.settings).teardown, job_labels(job_id))
    except (TerraformError, DeployError) as exc:
        raise PermanentError(str(exc)) from exc
    finally:
        await asyncio.to_thread(shutil.rmtree, tf_dir, True)
    return {"terraform": "destroyed", "workspace": f"job-{job_id}"}
