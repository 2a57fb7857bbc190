"""Generator classes the third, held-out real corpus showed, on analyses of our own."""

from __future__ import annotations

import pytest
import yaml

from services.generator.bundle import generate_bundle
from services.provisioner.handlers import build_spec
from shared.analysis import ExistingDocker
from tests.generator.stacks import make_analysis


@pytest.mark.parametrize(
    ("language", "framework", "tree"),
    [
        ("html", None, ["Dockerfile", "index.html", "logo.png"]),
        ("node", "vue", ["Dockerfile", "index.html", "package.json", "src/main.js"]),
    ],
)
def test_the_repositorys_own_dockerfile_is_reached_on_the_port_it_exposes(
    language: str, framework: str | None, tree: list[str]
) -> None:
    # Their own `FROM nginx` serves on 80; the generated static recipe would listen on
    # 8080 (nginx unprivileged). Building their Dockerfile on the recipe's port meant
    # nothing answered where the health check knocked.
    analysis = make_analysis(
        language,
        framework,
        tree,
        port=80,
        docker=ExistingDocker(dockerfile="Dockerfile", exposed_ports=[80, 443]),
    )
    bundle = generate_bundle(analysis, job_id="job-7")
    service = yaml.safe_load(bundle["compose.yaml"])["services"]["app"]
    assert service["build"]["dockerfile"] == "Dockerfile"
    assert service["ports"] == ["${HOST_PORT:-8080}:80"]
    assert service["environment"]["PORT"] == "80"
    assert build_spec(bundle, 8080)[1:] == ("Dockerfile", 80)
