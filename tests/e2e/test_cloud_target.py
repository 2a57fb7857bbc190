"""Issue 5: an aws-ec2 job runs the Terraform sequence (stand-in terraform) and is verified.

The real terraform cannot reach AWS from here, so a stand-in executable answers like
Terraform does; its `output -json` points at a real local HTTP server, which the
verifier health-checks like any deployed URL.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.provisioner.fake_terraform import FakeTerraform
from tests.support.fixtures_web import FLASK_APP

pytestmark = pytest.mark.e2e

GOOD_PLAN = Path(__file__).resolve().parents[1] / "provisioner/plan_fixtures/good_aws_ec2.json"
FIXTURE_JOB_ID = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the instance"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_aws_ec2_job_applies_through_terraform_and_is_verified(
    make_stack, git_server, tmp_path
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    fake = FakeTerraform.install(tmp_path / "tf")
    plan = tmp_path / "plan.json"
    plan.write_text(GOOD_PLAN.read_text().replace(FIXTURE_JOB_ID, "__JOB_ID__"))
    outputs = {
        "url": {"sensitive": False, "type": "string", "value": url},
        "public_ip": {"sensitive": False, "type": "string", "value": "127.0.0.1"},
    }
    fake.control(plan_fixture=str(plan), outputs=outputs)
    stack = make_stack(
        TERRAFORM_BIN=str(fake.path),
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE00",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    repo = git_server.create_repo("cloud-flask", FLASK_APP)
    try:
        job_id = stack.submit(repo_url=repo, description="deploy on a VM", target="aws-ec2")
        job = stack.wait_job(job_id, timeout=120)
        assert job["status"] == "completed", job["error"]
        assert job["result"]["url"] == url and job["result"]["target"] == "aws-ec2"
        # Priced before apply: by the generator from its Terraform, then from the real plan.
        assert job["result"]["cost"]["monthly_usd"] == 24.10
        assert job["result"]["deployment"]["cost"]["monthly_usd"] == 24.10
        assert "estimated cost about $24.10 a month" in json.dumps(job["logs"])
        assert "(for up to 900 s)" in json.dumps(job["logs"])  # the cloud's verify window
        commands = [" ".join(a[:2]) if a[0] == "workspace" else a[0] for a in fake.argvs()]
        assert commands == ["init", "workspace select", "plan", "show", "apply", "output"]
        assert any(line["fields"].get("source") == "terraform" for line in job["logs"])
        assert "wJalrXUtnFEMI" not in stack.all_logs()

        assert httpx.delete(f"{stack.url}/job/{job_id}").status_code == 202
        job = stack.wait_job(job_id, statuses=("destroyed",), timeout=60)
        assert job["status"] == "destroyed", job["error"]
        assert fake.argvs()[-1][0] == "destroy"
        assert json.dumps(job["result"]["teardown"]).count("job-" + job_id) == 1
    finally:
        server.shutdown()


def test_without_cloud_credentials_a_cloud_job_stops_after_the_plan(make_stack, git_server):
    stack = make_stack(("gateway", "analyzer", "generator", "provisioner"))
    repo = git_server.create_repo("cloud-no-creds", FLASK_APP)
    job_id = stack.submit(repo_url=repo, description="serverless please", target="aws-ec2")
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "planned" and job["stage"] == "provisioner"
    assert "needs cloud credentials" in job["result"]["reason"]
    assert job["result"]["cost"]["monthly_usd"] == 24.10  # known before any credentials
    assert job["result"]["cost"]["region"] == "ca-central-1"
    paths = {a["path"] for a in httpx.get(f"{stack.url}/job/{job_id}/artifacts").json()}
    assert any(p.startswith("terraform/aws-ec2/") and p.endswith(".tf") for p in paths)


def test_a_plan_above_max_monthly_usd_fails_the_job_before_apply(
    make_stack, git_server, tmp_path
) -> None:
    fake = FakeTerraform.install(tmp_path / "tf")
    plan = tmp_path / "plan.json"
    plan.write_text(GOOD_PLAN.read_text().replace(FIXTURE_JOB_ID, "__JOB_ID__"))
    fake.control(plan_fixture=str(plan), outputs={})
    stack = make_stack(
        ("gateway", "analyzer", "generator", "provisioner"),
        TERRAFORM_BIN=str(fake.path),
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE00",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        MAX_MONTHLY_USD="5",
    )
    repo = git_server.create_repo("cloud-too-dear", FLASK_APP)
    job_id = stack.submit(repo_url=repo, description="deploy on a VM", target="aws-ec2")
    job = stack.wait_job(job_id, timeout=120)
    assert job["status"] == "failed" and job["stage"] == "provisioner"
    assert "above MAX_MONTHLY_USD ($5.00): nothing was applied" in job["error"]
    assert "apply" not in [argv[0] for argv in fake.argvs()]
