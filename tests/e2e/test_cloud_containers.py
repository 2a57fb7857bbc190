"""Issue 23: aws-serverless and kubernetes jobs push their image, apply, are verified, tear down.

Nothing here reaches AWS or a cluster. The stand-ins speak the real protocols:

- a local OCI registry (Debian's ``docker-registry``) stands in for ECR and for a
  cluster's registry; the Docker engine really pushes to it and really pulls from it;
- moto's server answers ECR's API (``GetAuthorizationToken``) through boto3, as AWS would;
- the stand-in ``terraform`` answers like Terraform; after a full apply it starts, from the
  pushed image, the container a load balancer or ingress would route to, and its
  ``url`` output points there, so the verifier checks the very image that was pushed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.provisioner.fake_terraform import FakeTerraform
from tests.support.fixtures_web import STATIC_SITE

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

FIXTURES = Path(__file__).resolve().parents[1] / "provisioner" / "plan_fixtures"
FIXTURE_JOB_ID = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
CONTAINER_PORT = 8080  # the generated static-site image listens on $PORT, 8080 by default


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[str]:
    """A local OCI registry on loopback: host:port."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("Debian's docker-registry is not installed: make tools installs it")
    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: warn\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the local registry did not start"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def ecr_api() -> Iterator[str]:
    """moto's server answering the AWS APIs (ECR among them) on loopback: its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port())
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _tags(registry: str, repository: str) -> list[str]:
    response = httpx.get(f"http://{registry}/v2/{repository}/tags/list", timeout=5)
    return list(response.json().get("tags") or []) if response.status_code == 200 else []


def _container_gone(name: str) -> bool:
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name=^{name}$"], capture_output=True, text=True
    )
    return found.stdout.strip() == ""


def _commands(fake: FakeTerraform) -> list[str]:
    out = []
    for argv in fake.argvs():
        if argv[0] == "workspace":
            out.append("workspace select")
        elif argv[0] == "plan":
            targets = [a for a in argv if a.startswith("-target=")]
            out.append(" ".join(["plan", *targets]))
        else:
            out.append(argv[0])
    return out


def _stand_in(
    tmp_path: Path, plan: str, *, outputs: dict, image: str, name: str
) -> tuple[FakeTerraform, int]:
    fake = FakeTerraform.install(tmp_path / "tf")
    fixture = tmp_path / "plan.json"
    fixture.write_text((FIXTURES / plan).read_text().replace(FIXTURE_JOB_ID, "__JOB_ID__"))
    port = _free_port()
    outputs = {
        **outputs,
        "url": {"sensitive": False, "type": "string", "value": f"http://127.0.0.1:{port}"},
    }
    fake.control(
        plan_fixture=str(fixture),
        outputs=outputs,
        after_full_apply=[
            "docker", "run", "-d", "--name", name,
            "-p", f"127.0.0.1:{port}:{CONTAINER_PORT}", image,
        ],
        after_destroy=["docker", "rm", "-f", name],
    )  # fmt: skip
    return fake, port


def test_aws_serverless_pushes_to_ecr_applies_verifies_and_tears_down(
    make_stack, git_server, registry, ecr_api, tmp_path
) -> None:
    name = f"autodeploy-test-alb-{uuid.uuid4().hex[:8]}"
    repository = f"{registry}/app-serverless"  # what the ECR repository's URL stands for
    fake, port = _stand_in(
        tmp_path,
        "good_aws_serverless.json",
        outputs={"ecr_repository_url": {"sensitive": False, "value": repository}},
        image=f"{repository}:{{image_tag}}",
        name=name,
    )
    stack = make_stack(TERRAFORM_BIN=str(fake.path), AWS_ENDPOINT_URL=ecr_api, **CREDENTIALS)
    repo = git_server.create_repo("cloud-serverless", STATIC_SITE)
    try:
        job_id = stack.submit(repo_url=repo, description="deploy it")  # target chosen
        job = stack.wait_job(job_id, timeout=300)
        assert job["status"] == "completed", job["error"]
        assert job["analysis"]["target"] == "aws-serverless"
        commit = job["analysis"]["commit_sha"]
        assert len(commit) == 40
        # The registry first (a limited plan), the image pushed, then the whole plan.
        assert _commands(fake) == [
            "init", "workspace select",
            "plan -target=aws_ecr_repository.app", "show", "apply", "output",
            "plan", "show", "apply", "output",
        ]  # fmt: skip
        full_plan = [a for a in fake.argvs() if a[0] == "plan"][-1]
        assert f"image_tag={commit}" in full_plan
        assert _tags(registry, "app-serverless") == [commit]
        assert job["result"]["url"] == f"http://127.0.0.1:{port}"
        assert job["result"]["deployment"]["image_tag"] == commit
        assert "Hello from autodeploy" in httpx.get(job["result"]["url"], timeout=5).text
        logs = json.dumps(job["logs"])
        assert f"pushed {repository}:{commit}" in logs
        assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in stack.all_logs()

        assert httpx.delete(f"{stack.url}/job/{job_id}").status_code == 202
        job = stack.wait_job(job_id, statuses=("destroyed",), timeout=120)
        assert job["status"] == "destroyed", job["error"]
        assert fake.argvs()[-1][0] == "destroy"
        assert _container_gone(name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_kubernetes_pushes_to_the_cluster_registry_applies_verifies_and_tears_down(
    make_stack, git_server, registry, tmp_path
) -> None:
    name = f"autodeploy-test-ingress-{uuid.uuid4().hex[:8]}"
    fake, port = _stand_in(
        tmp_path, "good_kubernetes.json", outputs={}, image="{image}", name=name
    )
    stack = make_stack(
        TERRAFORM_BIN=str(fake.path),
        KUBERNETES_IMAGE_REGISTRY=f"{registry}/team",
        KUBECONFIG_PATH=str(tmp_path / "kubeconfig"),
        **CREDENTIALS,
    )
    repo = git_server.create_repo("cloud-kubernetes", STATIC_SITE)
    try:
        job_id = stack.submit(repo_url=repo, description="deploy it on kubernetes")
        job = stack.wait_job(job_id, timeout=300)
        assert job["status"] == "completed", job["error"]
        assert job["analysis"]["target"] == "kubernetes"
        commit = job["analysis"]["commit_sha"]
        # A cluster of yours: no registry to create, one plan naming the pushed image.
        assert _commands(fake) == ["init", "workspace select", "plan", "show", "apply", "output"]
        image = f"{registry}/team/autodeploy-{job_id}:{commit}"
        plan = [a for a in fake.argvs() if a[0] == "plan"][-1]
        assert f"image={image}" in plan
        assert f"kubeconfig_path={tmp_path / 'kubeconfig'}" in plan
        assert _tags(registry, f"team/autodeploy-{job_id}") == [commit]
        assert job["result"]["url"] == f"http://127.0.0.1:{port}"

        assert httpx.delete(f"{stack.url}/job/{job_id}").status_code == 202
        job = stack.wait_job(job_id, statuses=("destroyed",), timeout=120)
        assert job["status"] == "destroyed", job["error"]
        destroy = fake.argvs()[-1]
        assert destroy[0] == "destroy" and "image=destroyed:latest" in destroy
        assert _container_gone(name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_kubernetes_without_a_registry_fails_with_the_setting_to_set(
    make_stack, git_server, tmp_path
) -> None:
    fake = FakeTerraform.install(tmp_path / "tf")
    fake.control(plan_fixture=str(FIXTURES / "good_kubernetes.json"), outputs={})
    stack = make_stack(TERRAFORM_BIN=str(fake.path), **CREDENTIALS)
    repo = git_server.create_repo("cloud-kubernetes-no-registry", STATIC_SITE)
    job_id = stack.submit(repo_url=repo, description="deploy it on kubernetes")
    job = stack.wait_job(job_id, timeout=300)
    assert job["status"] == "failed" and job["stage"] == "provisioner"
    assert "set KUBERNETES_IMAGE_REGISTRY" in job["error"]
    assert "apply" not in [a[0] for a in fake.argvs()]
