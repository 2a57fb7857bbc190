"""Assemble the whole bundle for one analysis: Docker, compose, Makefile, docs, Terraform."""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Mapping

from shared.analysis import Analysis
from shared.cost import CostEstimate, PriceTable

from .compose import ENV_FILE, render_compose, render_compose_override, render_makefile
from .context import Context, UnsupportedStackError, build_context
from .cost import estimate_bundle
from .dockerfiles import DockerPlan, dockerignore, plan_dockerfile
from .envplan import EnvPlan, plan_env
from .images import override_dockerfile_images
from .quoting import single_line
from .tf_common import DEFAULT_REGION
from .tf_ec2 import render_aws_ec2, validate_ssh_cidr
from .tf_kubernetes import render_kubernetes
from .tf_serverless import render_aws_serverless

__all__ = ["generate_bundle"]

logger = logging.getLogger(__name__)

_DOMAIN_RE = re.compile(
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_EKS_RE = re.compile(r"\b(eks|cluster)\b", re.IGNORECASE)


def _join(root: str, name: str) -> str:
    return name if root in ("", ".") else posixpath.join(root, name)


def _free_name(analysis: Analysis, preferred: str, fallback: str) -> str:
    """``preferred`` unless the repository already has a file by that name."""
    return fallback if preferred in set(analysis.tree) else preferred


def _wants_eks(analysis: Analysis) -> bool:
    if analysis.description.target != "kubernetes":
        return False
    texts = [
        *analysis.target_reasons,
        analysis.description.app_hint or "",
        *analysis.description.services,
    ]
    return any(_EKS_RE.search(t) for t in texts)


def _existing_service(analysis: Analysis) -> str:
    names = analysis.docker.compose_services if analysis.docker else []
    for preferred in ("app", "web", "api", "server", "backend", "frontend"):
        if preferred in names:
            return preferred
    return names[0] if names else "app"


def _cost_md(cost: CostEstimate | None) -> str:
    if cost is None:
        return (
            "\n### Cost\n\nNo AWS resources of ours to price here (the app runs on the "
            "cluster you point it at).\n"
        )
    out = [f"\n### Cost\n\nEstimated {cost.summary()}, before tax:\n\n"]
    out.extend(f"- `{line.address}`: {line.what}, ${line.monthly_usd:.2f}\n" for line in cost.lines)
    out.append(
        f"\nPrices: {cost.source} ({cost.date}). The provisioner prices the real plan again "
        "before it applies, and refuses it above `MAX_MONTHLY_USD`.\n"
    )
    return "".join(out)


def _deploy_md(
    analysis: Analysis,
    ctx: Context,
    plan: DockerPlan | None,
    env: EnvPlan,
    files: list[str],
    *,
    make_cmd: str,
    reuse: str | None,
    cost: CostEstimate | None = None,
) -> str:
    def bullet(text: str) -> str:
        return f"- {single_line(text)}\n"

    out = [f"# Deployment bundle for job {ctx.job_id}\n\n"]
    out.append(
        f"`{make_cmd}` builds and starts the app; it answers on http://localhost:8080 "
        "(set `HOST_PORT` to change the host port). `make down` stops it.\n\n"
    )
    out.append("## What the analysis found\n\n")
    stack = f"{analysis.language or 'unknown'}" + (
        f" / {analysis.framework}" if analysis.framework else ""
    )
    out.append(bullet(f"Stack: {stack} (app root `{ctx.app_root}`)."))
    out.append(bullet(ctx.port_reason + "."))
    if analysis.binds_loopback:
        out.append(
            bullet(
                f"The code binds {analysis.bind_address or '127.0.0.1'}: only reachable "
                "from inside its own container unless the server is told to bind 0.0.0.0."
            )
        )
    for reason in [*analysis.reasons, *analysis.verdict_reasons, *analysis.target_reasons][:12]:
        out.append(bullet(reason))
    out.append("\n## What was generated and why\n\n")
    if reuse:
        out.append(
            bullet(
                f"The repository's own {reuse} is reused; the files below only adapt it "
                "(host port 8080, environment)."
            )
        )
    if plan is not None:
        out.append(
            bullet(
                f"Dockerfile for `{plan.stack}` on {', '.join(plan.base_images)}: dependency "
                "manifests are installed before the source is copied, the app runs as a "
                f"non-root user on 0.0.0.0:$PORT (container port {plan.container_port}), "
                "and a HEALTHCHECK probes "
                f"`{ctx.health_path}`."
            )
        )
    for note in ctx.notes + env.notes:
        out.append(bullet(note))
    if ctx.services:
        out.append(
            bullet(
                "Backing services from the analysis run next to the app: "
                f"{', '.join(ctx.services)}; "
                "the app waits for their health checks."
            )
        )
    if env.entries:
        out.append("\n## Environment\n\n")
        for entry in env.entries:
            source = {
                "literal": "plain value (override by exporting it)",
                "generated": f"random, generated into `{ENV_FILE}` by `make up`",
                "required": "**you must set it** (export it or add it to " + ENV_FILE + ")",
                "optional": "optional secret, empty unless you set it",
                "wired": f"points at the bundled `{entry.service}` service",
            }[entry.kind]
            out.append(f"- `{entry.name}`: {source}.\n")
    if analysis.target != "local":
        out.append(f"\n## Cloud target: {analysis.target}\n\n")
        out.append(
            bullet(
                f"Terraform lives in `terraform/{analysis.target}/`; it was parsed and "
                "checked against the deployment policy before this bundle was released."
            )
        )
        if analysis.target == "aws-ec2":
            out.append(
                bullet(
                    "Pass `-var bundle_archive=<path to a .tar.gz of the repository with these "
                    "files at its root>`; the instance downloads it, installs Docker and runs "
                    f"`{make_cmd}`."
                )
            )
        out.append(_cost_md(cost))
    out.append("\n## Files\n\n")
    out.extend(f"- `{name}`\n" for name in sorted(files))
    return "".join(out)


def generate_bundle(
    analysis: Analysis,
    *,
    job_id: str,
    base_images: Mapping[str, str] | None = None,
    ssh_cidr: str | None = None,
    price_table: PriceTable | None = None,
) -> dict[str, str]:
    """Render the deployment bundle: paths relative to the repository root -> file text.

    The bundle is laid over the repository root. Files the repository already has
    (Makefile, compose.yaml, Dockerfile, .dockerignore) are never overwritten: the
    generated counterparts get autodeploy-specific names instead.
    """
    if analysis.verdict != "http-service":
        raise UnsupportedStackError(
            "the analysis says this is not an HTTP service; nothing to deploy"
        )
    ctx = build_context(analysis, job_id=job_id)
    cidr = validate_ssh_cidr(ssh_cidr)
    overrides = dict(base_images or {})
    project = "autodeploy-" + job_id.lower().replace("_", "-")
    tree = set(analysis.tree)
    files: dict[str, str] = {}

    existing = analysis.docker
    reuse_dockerfile = existing.dockerfile if existing and existing.dockerfile else None
    reuse_compose = existing.compose_file if existing and existing.compose_file else None

    plan: DockerPlan | None
    try:
        plan = plan_dockerfile(ctx)
    except UnsupportedStackError:
        if not (reuse_dockerfile or reuse_compose):
            raise
        plan = None
    env = plan_env(analysis, ctx)

    generated_dockerfile: str | None = None
    if plan is not None:
        dockerfile_name = _join(ctx.app_root, "Dockerfile")
        if reuse_dockerfile or dockerfile_name in tree:
            dockerfile_name = _join(ctx.app_root, "Dockerfile.autodeploy")
        files[dockerfile_name] = override_dockerfile_images(plan.dockerfile, overrides)
        generated_dockerfile = dockerfile_name
        for rel, text in plan.extra_files.items():
            files[_join(ctx.app_root, rel)] = text
        ignore = _join(ctx.app_root, ".dockerignore")
        if ignore not in tree:
            files[ignore] = dockerignore(ctx)
        elif not reuse_dockerfile:
            # BuildKit reads <Dockerfile>.dockerignore before .dockerignore, so the repo's own
            # file stays untouched and this build still excludes secrets and host output.
            files[dockerfile_name + ".dockerignore"] = dockerignore(ctx)

    port = plan.container_port if plan else ctx.port
    comments: list[str] = []
    reuse: str | None = None
    if reuse_compose:
        reuse = f"compose file `{reuse_compose}`"
        compose_name = "compose.autodeploy.yaml"
        compose_files = [reuse_compose, compose_name]
        service = _existing_service(analysis)
        if existing and existing.compose_ports and analysis.port is None:
            port = existing.compose_ports[0]
        files[compose_name] = render_compose_override(
            job_id=job_id,
            project=project,
            service=service,
            container_port=port,
            plan=env,
            comments=[
                f"Layered on {single_line(reuse_compose)}: publishes service {service!r} on "
                "host port ${HOST_PORT:-8080} and sets its environment."
            ],
        )
    else:
        compose_name = _free_name(analysis, "compose.yaml", "compose.autodeploy.yaml")
        compose_files = [compose_name]
        if reuse_dockerfile:
            reuse = f"Dockerfile `{reuse_dockerfile}`"
            directory = posixpath.dirname(reuse_dockerfile) or "."
            if directory == ctx.app_root:
                build = {
                    "context": ctx.app_root,
                    "dockerfile": posixpath.basename(reuse_dockerfile),
                }
            else:
                build = {"context": ".", "dockerfile": reuse_dockerfile}
            if analysis.port is None and existing and existing.exposed_ports:
                port = existing.exposed_ports[0]
            comments.append(
                f"Builds the repository's own {reuse_dockerfile}; the generated "
                f"{generated_dockerfile or 'Dockerfile'} is a fallback if that build fails."
            )
        else:
            assert generated_dockerfile is not None
            build = {
                "context": ctx.app_root,
                "dockerfile": posixpath.relpath(generated_dockerfile, ctx.app_root),
            }
        comments.append(
            "The app is published on host port ${HOST_PORT:-8080}; secrets are "
            f"placeholders filled from {ENV_FILE} (make up) or the shell."
        )
        files[compose_name] = render_compose(
            job_id=job_id,
            project=project,
            build=build,
            container_port=port,
            plan=env,
            kinds=ctx.services,
            overrides=overrides,
            comments=comments,
        )

    makefile = _free_name(analysis, "Makefile", "autodeploy.mk")
    make_cmd = "make up" if makefile == "Makefile" else f"make -f {makefile} up"
    files[makefile] = render_makefile(
        job_id=job_id, project=project, compose_files=compose_files, generated=env.generated
    )

    # Region and size from the description; the Terraform policy (validate_bundle) refuses
    # those it does not allow, naming the allowed ones.
    region = analysis.description.region or DEFAULT_REGION
    size = analysis.description.size
    if analysis.target == "aws-ec2":
        tf = render_aws_ec2(
            job_id=job_id,
            ssh_cidr=cidr,
            make_command=make_cmd,
            region=region,
            instance_type=size or "t2.small",
        )
    elif analysis.target == "aws-serverless":
        tf = render_aws_serverless(
            job_id=job_id,
            port=port,
            health_path=ctx.health_path,
            plan=env,
            kinds=ctx.services,
            region=region,
        )
    elif analysis.target == "kubernetes":
        domain = analysis.description.domain or ""
        tf = render_kubernetes(
            job_id=job_id,
            port=port,
            health_path=ctx.health_path,
            plan=env,
            kinds=ctx.services,
            domain=domain if _DOMAIN_RE.fullmatch(domain) else "",
            with_eks=_wants_eks(analysis),
            region=region,
            node_instance_type=size or "t3.medium",
        )
    else:
        tf = {}
    for name, text in tf.items():
        files[f"terraform/{analysis.target}/{name}"] = text

    cost = estimate_bundle(files, analysis.target, table=price_table) if tf else None
    doc_name = _free_name(analysis, "DEPLOY.md", "DEPLOY.autodeploy.md")
    files[doc_name] = _deploy_md(
        analysis, ctx, plan, env, [*files, doc_name], make_cmd=make_cmd, reuse=reuse, cost=cost
    )
    logger.info("generated bundle for job %s: %d files", job_id, len(files))
    return files
