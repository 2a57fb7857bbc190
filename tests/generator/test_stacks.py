"""Every supported stack yields a bundle that passes the release gate, for every target."""

from __future__ import annotations

import re

import pytest
import yaml

from services.generator.bundle import (
    UnsupportedStackError,
    generate_bundle,
    validate_bundle,
    validate_bundle_report,
)
from services.generator.bundle.validate import find_tool
from shared.analysis import Analysis, DescriptionRequest
from shared.capabilities.iac_policy import check_terraform_policy
from tests.generator.stacks import STACKS, make_analysis

CLOUD_TARGETS = ("aws-ec2", "aws-serverless", "kubernetes")
_NEW_DOCKERFILE = {k for k, a in STACKS.items() if a.docker is None}


def _require_linters() -> None:
    # Validation reports a missing linter as a violation, so these tests would fail
    # anyway; saying which tool is missing makes the failure actionable.
    for tool in ("hadolint", "shellcheck"):
        assert find_tool(tool), f"{tool} must be installed for the generator tests"


def _dockerfile(bundle: dict[str, str]) -> tuple[str, str]:
    name = next(
        k for k in bundle if k.split("/")[-1].startswith("Dockerfile") and "ignore" not in k
    )
    return name, bundle[name]


def _compose(bundle: dict[str, str]) -> dict[str, object]:
    name = next(k for k in bundle if re.fullmatch(r"compose(\.autodeploy)?\.yaml", k))
    doc = yaml.safe_load(bundle[name])
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_local_bundle_is_clean(stack: str) -> None:
    _require_linters()
    bundle = generate_bundle(STACKS[stack], job_id="job-42")
    report = validate_bundle_report(bundle)
    assert report.violations == []
    # Not just error-free: no hadolint warning/info or shellcheck style note either.
    assert report.warnings == []
    assert not any(k.startswith("terraform/") for k in bundle)
    assert "DEPLOY.md" in bundle


@pytest.mark.parametrize("stack", sorted(_NEW_DOCKERFILE))
def test_dockerfile_follows_the_house_rules(stack: str) -> None:
    bundle = generate_bundle(STACKS[stack], job_id="job-42")
    _, text = _dockerfile(bundle)
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms, "no FROM line"
    for image in froms:
        assert ":" in image.split("/")[-1] and not image.endswith(":latest"), image
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the final stage must not run as root"
    assert "HEALTHCHECK" in text
    # The probe's tool must exist in the final image: curl is installed on purpose, wget
    # only comes with busybox (Alpine), everything else is the runtime itself.
    final_stage = text[text.rindex("\nFROM ") :] if "\nFROM " in text else text
    probe = text[text.index("HEALTHCHECK") :].split("\n")[1]
    if "curl " in probe:
        assert re.search(r"apt-get install[^\n]*\bcurl\b", final_stage)
    if "wget " in probe:
        assert "alpine" in final_stage.split("\n")[1]
    expose = re.findall(r"^EXPOSE (\d+)", text, re.MULTILINE)
    compose = _compose(bundle)
    app = compose["services"]["app"]  # type: ignore[index]
    assert app["ports"] == [f"${{HOST_PORT:-8080}}:{expose[-1]}"]
    assert app["environment"]["PORT"] == expose[-1]
    assert re.search(r"^ENV .*PORT=" + expose[-1], text, re.MULTILINE)
    # Built stacks copy their manifests before the source (the dependency layer).
    if "COPY . ." in text and re.search(r"^COPY (?!\. )(?!--)", text, re.MULTILINE):
        first_manifest = re.search(r"^COPY (?!\. )(?!--)\S", text, re.MULTILINE)
        assert first_manifest is not None
        assert first_manifest.start() < text.index("COPY . .")


@pytest.mark.parametrize("stack", sorted(STACKS))
@pytest.mark.parametrize("target", CLOUD_TARGETS)
def test_cloud_terraform_parses_and_passes_policy(stack: str, target: str) -> None:
    bundle = generate_bundle(STACKS[stack].model_copy(update={"target": target}), job_id="job-42")
    folders = {k.split("/")[1] for k in bundle if k.startswith("terraform/")}
    assert folders == {target}
    tf = {k: v for k, v in bundle.items() if k.startswith("terraform/")}
    assert f"terraform/{target}/variables.tf" in tf and f"terraform/{target}/outputs.tf" in tf
    assert check_terraform_policy(tf) == []
    assert validate_bundle(tf) == []


def test_eks_only_when_the_description_asks_for_a_cluster() -> None:
    base = STACKS["node-express"].model_copy(update={"target": "kubernetes"})
    plain = generate_bundle(base, job_id="k1")["terraform/kubernetes/main.tf"]
    assert "aws_eks_cluster" not in plain and "config_path" in plain
    asked = base.model_copy(
        update={
            "description": DescriptionRequest(target="kubernetes"),
            "target_reasons": ["the description asks for an EKS cluster"],
        }
    )
    eks = generate_bundle(asked, job_id="k1")
    assert 'resource "aws_eks_cluster"' in eks["terraform/kubernetes/main.tf"]
    assert validate_bundle({k: v for k, v in eks.items() if k.endswith(".tf")}) == []


def test_kubernetes_probes_use_the_health_path() -> None:
    analysis = STACKS["go"].model_copy(update={"target": "kubernetes", "health_path": "/healthz"})
    main = generate_bundle(analysis, job_id="k2")["terraform/kubernetes/main.tf"]
    assert main.count('path = "/healthz"') == 2


def test_loopback_flask_is_wrapped_in_gunicorn_on_all_interfaces() -> None:
    _, text = _dockerfile(generate_bundle(STACKS["python-flask"], job_id="j"))
    assert "gunicorn==" in text
    assert 'exec gunicorn --bind \\"0.0.0.0:${PORT}\\"' in text and "app:app" in text


def test_loopback_fastapi_keeps_its_module_and_binds_all_interfaces() -> None:
    _, text = _dockerfile(generate_bundle(STACKS["python-fastapi"], job_id="j"))
    assert "exec uvicorn app.main:app --host 0.0.0.0" in text
    assert "127.0.0.1 " not in text.split("CMD")[-1]


def test_node_frameworks_get_host_env() -> None:
    _, text = _dockerfile(generate_bundle(STACKS["node-fastify"], job_id="j"))
    assert re.search(r"^ENV .*HOST=0\.0\.0\.0", text, re.MULTILINE)


def test_backing_service_has_healthcheck_and_app_waits_for_it() -> None:
    compose = _compose(generate_bundle(STACKS["python-django"], job_id="j"))
    services = compose["services"]  # type: ignore[index]
    assert "healthcheck" in services["postgres"]
    assert services["app"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    url = services["app"]["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql://app:${POSTGRES_PASSWORD:?") and "@postgres:5432/app" in url


def test_secrets_are_placeholders_generated_by_make_up() -> None:
    bundle = generate_bundle(STACKS["python-flask"], job_id="j")
    env = _compose(bundle)["services"]["app"]["environment"]  # type: ignore[index]
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert env["DEBUG"] == "${DEBUG:-0}"
    makefile = bundle["Makefile"]
    assert "grep -q '^SECRET_KEY='" in makefile and "/dev/urandom" in makefile
    assert re.search(
        r"^up: secrets\n\t\$\(COMPOSE\) \$\(COMPOSE_ARGS\) up -d --build$", makefile, re.M
    )
    assert re.search(r"^down:\n\t\$\(COMPOSE\) -p \$\(PROJECT\) down", makefile, re.M)


def test_secret_value_from_description_is_not_copied() -> None:
    analysis = STACKS["node-express"].model_copy(
        update={
            "description": DescriptionRequest(env={"STRIPE_API_KEY": "sk_live_123", "MODE": "x"})
        }
    )
    bundle = generate_bundle(analysis, job_id="j")
    assert not any("sk_live_123" in text for text in bundle.values())
    env = _compose(bundle)["services"]["app"]["environment"]  # type: ignore[index]
    assert env["STRIPE_API_KEY"] == "${STRIPE_API_KEY:?set STRIPE_API_KEY before make up}"
    assert env["MODE"] == "${MODE:-x}"


def test_existing_dockerfile_is_reused_and_not_overwritten() -> None:
    bundle = generate_bundle(STACKS["existing-dockerfile"], job_id="j")
    assert "Dockerfile" not in bundle and "Dockerfile.autodeploy" in bundle
    app = _compose(bundle)["services"]["app"]  # type: ignore[index]
    assert app["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert app["ports"] == ["${HOST_PORT:-8080}:5000"]


def test_existing_compose_gets_an_override_and_keeps_the_users_makefile() -> None:
    bundle = generate_bundle(STACKS["existing-compose"], job_id="j")
    assert "Makefile" not in bundle and "docker-compose.yml" not in bundle
    override = yaml.safe_load(bundle["compose.autodeploy.yaml"])
    assert override["services"]["web"]["ports"] == ["${HOST_PORT:-8080}:3000"]
    assert "-f docker-compose.yml -f compose.autodeploy.yaml" in bundle["autodeploy.mk"]
    # The user's Makefile stays; GNUmakefile (read first by make) makes `make up` ours.
    assert bundle["GNUmakefile"].endswith("include autodeploy.mk\n")
    assert "`make up`" in bundle["DEPLOY.md"]


def test_monorepo_app_root_is_the_build_context() -> None:
    analysis = make_analysis(
        "python", "fastapi", ["api/main.py", "api/requirements.txt"], port=8000
    )
    analysis = analysis.model_copy(update={"app_root": "api"})
    bundle = generate_bundle(analysis, job_id="j")
    assert "api/Dockerfile" in bundle and "api/.dockerignore" in bundle
    app = _compose(bundle)["services"]["app"]  # type: ignore[index]
    assert app["build"] == {"context": "api", "dockerfile": "Dockerfile"}


def test_unknown_language_without_docker_is_refused() -> None:
    with pytest.raises(UnsupportedStackError, match="cobol"):
        generate_bundle(Analysis(language="cobol"), job_id="j")


def test_not_a_service_is_refused() -> None:
    with pytest.raises(UnsupportedStackError, match="not an HTTP service"):
        generate_bundle(Analysis(language="python", verdict="not-a-service"), job_id="j")


def test_bad_job_id_is_refused() -> None:
    with pytest.raises(ValueError, match="job_id"):
        generate_bundle(STACKS["go"], job_id="x; rm -rf /")
