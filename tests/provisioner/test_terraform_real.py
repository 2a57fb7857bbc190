"""The runner with the real terraform binary (when installed) and the real PostgreSQL backend.

No cloud provider can be downloaded here, so the configurations use only what is built
into Terraform: outputs and ``terraform_data``. That still exercises the pg backend, the
workspace, the plan file, ``show -json``'s real format and the policy on it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from services.provisioner.terraform import Applied, PlanPolicyError, TerraformRunner
from shared.settings import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed"),
]

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

OUTPUTS_ONLY = """
variable "job_id" {
  type = string
}

output "url" {
  value = "http://app-${var.job_id}.example.test:8080"
}

# A declared output name (the policy refuses others), marked sensitive.
output "instance_id" {
  value     = "tok-${var.job_id}"
  sensitive = true
}
"""

BUILTIN_RESOURCE = (
    OUTPUTS_ONLY
    + """
resource "terraform_data" "marker" {
  input = var.job_id
}
"""
)


def _sql(dsn: str, query: str) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [dict(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def database() -> Iterator[str]:
    name = f"adtest_tf_{uuid.uuid4().hex[:10]}"
    try:
        _sql(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _sql(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def runner(database: str, workdir: Path, job_id: str, log: list[str]) -> TerraformRunner:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database,
        terraform_bin="terraform",
        terraform_timeout_s=60,
        # Only unlocks apply: no configuration here talks to AWS.
        aws_access_key_id=SecretStr("AKIAIOSFODNN7EXAMPLE"),
        aws_secret_access_key=SecretStr("not-a-real-secret-key-0000000000"),
    )
    return TerraformRunner(settings, workdir=workdir, job_id=job_id, on_log=log.append)


def test_apply_keeps_state_in_postgres_per_job_workspace(database: str, tmp_path: Path) -> None:
    job_id = uuid.uuid4().hex[:12]
    workdir = tmp_path / "tf"
    workdir.mkdir()
    (workdir / "main.tf").write_text(OUTPUTS_ONLY)
    log: list[str] = []

    result = runner(database, workdir, job_id, log).deploy(variables={"job_id": job_id})

    assert isinstance(result, Applied)
    assert result.url == f"http://app-{job_id}.example.test:8080"
    assert result.outputs["instance_id"] == "***"
    assert not any(f"tok-{job_id}" in line for line in log)
    states = _sql(database, "SELECT name FROM terraform_remote_state.states")
    assert f"job-{job_id}" in {s["name"] for s in states}
    # Teardown in a fresh directory finds the same workspace through the same backend.
    again = tmp_path / "tf-again"
    again.mkdir()
    (again / "main.tf").write_text(OUTPUTS_ONLY)
    runner(database, again, job_id, log).destroy(variables={"job_id": job_id})
    assert any("Destroy complete!" in line for line in log)


def test_real_plan_json_is_checked_before_apply(database: str, tmp_path: Path) -> None:
    job_id = uuid.uuid4().hex[:12]
    workdir = tmp_path / "tf"
    workdir.mkdir()
    (workdir / "main.tf").write_text(BUILTIN_RESOURCE)
    log: list[str] = []

    with pytest.raises(PlanPolicyError) as caught:
        runner(database, workdir, job_id, log).deploy(variables={"job_id": job_id})

    assert {v.rule for v in caught.value.violations} == {"provider-not-allowed"}
    (violation,) = caught.value.violations
    assert violation.file == "provider[terraform]"
    assert "terraform_data.marker" in violation.message
    assert not any("Apply complete" in line for line in log)
