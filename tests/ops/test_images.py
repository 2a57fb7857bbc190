"""Issue 7: the five service images build on the local engine and run as non-root; issue 24:
from one Dockerfile and the lock; issue 23: the provisioner's carries the pinned Terraform."""

from __future__ import annotations

import json

import docker
import pytest

from tests.ops.conftest import ROOT, SERVICES, terraform_pin
from tests.ops.test_locks import locked

# The first test builds the five images; a cold build of the verifier's installs Chromium
# (minutes on a small machine). Later builds hit the layer cache.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

# Programs a service shells out to, so its image must carry them.
TOOLS = {
    "analyzer": ["git"],
    "generator": ["shellcheck", "hadolint"],
    "provisioner": ["git"],
}


def _run(image: str, *command: str) -> str:
    client = docker.from_env(timeout=120)
    try:
        output = client.containers.run(image, list(command), remove=True, network_disabled=True)
    finally:
        client.close()
    return output.decode(errors="replace") if isinstance(output, bytes) else str(output)


@pytest.mark.parametrize("service", SERVICES)
def test_image_runs_the_service_as_non_root(service_images, service: str) -> None:
    client = docker.from_env()
    config = client.images.get(service_images[service]).attrs["Config"]
    client.close()
    user = config.get("User") or ""
    assert user and user.split(":")[0] not in ("root", "0"), f"{service} runs as {user!r}"
    assert config["Cmd"] == ["python", "-m", f"services.{service}"]
    assert _run(service_images[service], "id", "-u").strip() != "0"


@pytest.mark.parametrize("service", SERVICES)
def test_service_package_imports_in_its_image(service_images, service: str) -> None:
    out = _run(
        service_images[service],
        "python",
        "-c",
        f"import services.{service}, shared.settings; print('imported')",
    )
    assert out.strip() == "imported"


@pytest.mark.parametrize("service", sorted(TOOLS))
def test_image_carries_the_tools_its_service_runs(service_images, service: str) -> None:
    for tool in TOOLS[service]:
        assert _run(service_images[service], "sh", "-c", f"command -v {tool}").strip(), tool


def test_gateway_image_can_run_the_migrations(service_images) -> None:
    # The compose stack's one-shot `migrate` runs `alembic upgrade head` from this image;
    # `alembic heads` reads the same scripts without needing a database.
    out = _run(service_images["gateway"], "python", "-m", "alembic", "heads")
    assert "(head)" in out


# A page served on the container's loopback, a passing and a failing check: what the
# verifier does with a brief's checks, in its own image (no network needed).
BROWSER_CHECK = """
import asyncio
from services.verifier.browser import run_checks, serve_directory
page = {"index.html": "<p id='total-sales'>200</p><script>document.title = 'Sales'</script>"}
checks = ["js: document.querySelector('#total-sales').textContent === '200'",
          "js: document.title === 'Other'"]
with serve_directory(page) as url:
    print([r.status for r in asyncio.run(run_checks(url, checks))])
"""


def test_verifier_image_runs_a_browser_check(service_images) -> None:
    # Issue 22: the stack's verifier had neither playwright nor Chromium, so every
    # browser check of a brief failed.
    out = _run(service_images["verifier"], "python", "-c", BROWSER_CHECK)
    assert out.strip().splitlines()[-1] == "['pass', 'fail']", out


def test_images_carry_exactly_the_locked_versions(service_images) -> None:
    # Issue 24: `pip install --require-hashes -r requirements.lock`, so an image built
    # later runs what the tests ran; the verifier's adds the dev lock's playwright.
    runtime = {name: pin[0] for name, pin in locked(ROOT / "requirements.lock").items()}
    browser = {name: pin[0] for name, pin in locked(ROOT / "requirements-browser.lock").items()}
    for service, expected in (("gateway", runtime), ("verifier", {**runtime, **browser})):
        out = _run(service_images[service], "python", "-m", "pip", "list", "--format=json")
        installed = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}
        assert {n: v for n, v in expected.items() if installed.get(n) != v} == {}, service
    assert "playwright" not in runtime


def test_provisioner_image_carries_the_pinned_terraform(service_images, staged_terraform) -> None:
    # Issue 23 point 3: the compose stack can apply. The image takes the host's binary
    # (scripts/stage-terraform.sh), so a host without the pinned one cannot give it.
    staged, said = staged_terraform
    if staged is None:
        pytest.skip(f"this host gives the image no terraform: {said}")
    pinned = terraform_pin()["TERRAFORM_VERSION"]
    image = service_images["provisioner"]
    out = _run(image, "sh", "-c", "CHECKPOINT_DISABLE=1 terraform version -json")
    assert json.loads(out)["terraform_version"] == pinned
    # And the provisioner's start-up check, in its image, finds it as the pinned one.
    check = (
        "import logging, sys; "
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(message)s'); "
        "from services.provisioner.terraform_pin import check_terraform; "
        "check_terraform('terraform')"
    )
    out = _run(image, "python", "-c", check)
    assert f"terraform {pinned} at /usr/local/bin/terraform, the pinned version" in out, out
