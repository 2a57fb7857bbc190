"""The Terraform runner against a stand-in terraform that records what it was asked to do."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.provisioner.terraform import (
    BACKEND_FILE,
    NO_CREDENTIALS,
    PLAN_ONLY_REQUESTED,
    Applied,
    CostLimitError,
    PlanOnly,
    PlanPolicyError,
    TerraformError,
    TerraformRunner,
    TerraformTimeout,
    find_terraform,
    state_conn_str,
    workspace_name,
)
from shared.settings import Settings
from tests.provisioner.fake_terraform import FakeTerraform, process_alive

HERE = Path(__file__).parent
FIXTURES = HERE / "plan_fixtures"
OUTPUTS = json.loads((HERE / "aws_ec2_outputs.json").read_text())
JOB_ID = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"
WORKSPACE = f"job-{JOB_ID}"
DB_PASSWORD = "Pg-pa55word-9f8e7d"
DATABASE_URL = f"postgresql+asyncpg://autodeploy:{DB_PASSWORD}@db.internal:5432/autodeploy"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
VARIABLES = {"bundle_archive": "/work/job/bundle.tar.gz", "region": "ca-central-1"}
VAR_ARGS = ["-var", "bundle_archive=/work/job/bundle.tar.gz", "-var", "region=ca-central-1"]


@pytest.fixture
def fake(tmp_path: Path) -> FakeTerraform:
    stand_in = FakeTerraform.install(tmp_path / "fake")
    stand_in.control(plan_fixture=str(FIXTURES / "good_aws_ec2.json"), outputs=OUTPUTS)
    return stand_in


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "terraform" / "aws-ec2"
    path.mkdir(parents=True)
    (path / "main.tf").write_text("# generated\n")
    return path


def make_settings(fake: FakeTerraform, *, credentials: bool, timeout_s: float = 30.0) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=DATABASE_URL,
        terraform_bin=str(fake.path),
        terraform_timeout_s=timeout_s,
        aws_access_key_id=SecretStr(AWS_KEY_ID) if credentials else None,
        aws_secret_access_key=SecretStr(AWS_SECRET) if credentials else None,
    )


def make_runner(
    fake: FakeTerraform,
    workdir: Path,
    *,
    credentials: bool = True,
    timeout_s: float = 30.0,
    log: list[str] | None = None,
    **kwargs: Any,
) -> TerraformRunner:
    sink = log if log is not None else []
    return TerraformRunner(
        make_settings(fake, credentials=credentials, timeout_s=timeout_s),
        workdir=workdir,
        job_id=JOB_ID,
        on_log=sink.append,
        **kwargs,
    )


def test_deploy_runs_the_documented_sequence(fake: FakeTerraform, workdir: Path) -> None:
    result = make_runner(fake, workdir).deploy(variables=VARIABLES)

    assert isinstance(result, Applied)
    assert fake.argvs() == [
        ["init", "-input=false", "-no-color"],
        ["workspace", "select", "-or-create", WORKSPACE],
        ["plan", "-input=false", "-no-color", "-out=tfplan", *VAR_ARGS],
        ["show", "-json", "tfplan"],
        ["apply", "-input=false", "-no-color", "-auto-approve", "tfplan"],
        ["output", "-json"],
    ]
    assert {call["cwd"] for call in fake.calls()} == {str(workdir)}
    assert result.workspace == WORKSPACE
    assert str(result.summary) == "14 to add, 0 to change, 0 to destroy"


def test_state_goes_to_the_pg_backend_with_the_password_only_in_the_environment(
    fake: FakeTerraform, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.control(
        plan_fixture=str(FIXTURES / "good_aws_ec2.json"),
        outputs=OUTPUTS,
        echo_env={"init": ["PG_CONN_STR"]},  # as a failing pq connection would print it
    )
    log: list[str] = []
    make_runner(fake, workdir, log=log).deploy(variables=VARIABLES)

    backend = (workdir / BACKEND_FILE).read_text()
    assert 'backend "pg"' in backend and 'schema_name = "terraform_remote_state"' in backend
    assert "conn_str" not in backend.replace("connection string", "")
    first = fake.calls()[0]
    assert BACKEND_FILE in first["files"]
    for call in fake.calls():
        assert call["env_set"]["PG_CONN_STR"]
        assert call["env_set"]["TF_IN_AUTOMATION"] and call["env_set"]["TF_INPUT"]
        assert call["pg_conn_str_shape"] == (
            "postgresql://autodeploy:<password>@db.internal:5432/autodeploy?sslmode=require"
        )
        assert not any(DB_PASSWORD in arg for arg in call["argv"])
    assert any("PG_CONN_STR=" in line for line in log)  # the leak was attempted…
    assert not any(DB_PASSWORD in line for line in log)  # …and redacted
    assert DB_PASSWORD not in backend


def test_no_other_secret_reaches_terraform(
    fake: FakeTerraform, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-" + "y" * 40)
    monkeypatch.setenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("TF_LOG", "TRACE")  # would print every request, credentials included
    make_runner(fake, workdir).deploy(variables=VARIABLES)
    names = set(fake.calls()[0]["env_names"])
    assert not names & {"GITHUB_TOKEN", "OPENAI_API_KEY", "AMQP_URL", "TF_LOG"}


def test_aws_credentials_are_passed_when_configured(fake: FakeTerraform, workdir: Path) -> None:
    fake.control(
        plan_fixture=str(FIXTURES / "good_aws_ec2.json"),
        outputs=OUTPUTS,
        echo_env={"apply": ["AWS_SECRET_ACCESS_KEY"]},
    )
    log: list[str] = []
    make_runner(fake, workdir, log=log).deploy(variables=VARIABLES)
    for call in fake.calls():
        assert call["env_set"]["AWS_ACCESS_KEY_ID"] and call["env_set"]["AWS_SECRET_ACCESS_KEY"]
        assert not any(AWS_SECRET in arg or AWS_KEY_ID in arg for arg in call["argv"])
    assert any("AWS_SECRET_ACCESS_KEY=" in line for line in log)
    assert not any(AWS_SECRET in line for line in log)


def test_without_credentials_it_stops_after_the_plan(
    fake: FakeTerraform, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials in the worker's own environment are not "configured": settings decide.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    log: list[str] = []
    runner = make_runner(fake, workdir, credentials=False, log=log)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = runner.deploy(variables=VARIABLES)

    assert isinstance(result, PlanOnly)
    assert result.reason == NO_CREDENTIALS == "no cloud credentials configured: stopped after plan"
    assert [argv[0] for argv in fake.argvs()] == ["init", "workspace", "plan", "show"]
    for call in fake.calls():
        assert not call["env_set"]["AWS_ACCESS_KEY_ID"]
        assert not call["env_set"]["AWS_SECRET_ACCESS_KEY"]
    assert any(NO_CREDENTIALS in line for line in log)


def test_plan_only_can_be_asked_for_even_with_credentials(
    fake: FakeTerraform, workdir: Path
) -> None:
    result = make_runner(fake, workdir).deploy(variables=VARIABLES, plan_only=True)
    assert isinstance(result, PlanOnly) and result.reason == PLAN_ONLY_REQUESTED
    assert "apply" not in [argv[0] for argv in fake.argvs()]


def test_apply_and_destroy_refuse_without_credentials(fake: FakeTerraform, workdir: Path) -> None:
    runner = make_runner(fake, workdir, credentials=False)
    with pytest.raises(TerraformError, match="no cloud credentials configured"):
        runner.apply()
    with pytest.raises(TerraformError, match="no cloud credentials configured"):
        runner.destroy(variables=VARIABLES)
    assert fake.argvs() == []


def test_apply_needs_a_plan_that_passed_the_policy(fake: FakeTerraform, workdir: Path) -> None:
    runner = make_runner(fake, workdir)
    runner.plan(variables=VARIABLES)
    with pytest.raises(TerraformError, match="has not passed the policy"):
        runner.apply()
    assert "apply" not in [argv[0] for argv in fake.argvs()]


def test_teardown_can_go_through_a_checked_destroy_plan(fake: FakeTerraform, workdir: Path) -> None:
    fake.control(plan_fixture=str(FIXTURES / "destroy_in_deploy.json"))
    runner = make_runner(fake, workdir)
    plan = runner.plan(variables=VARIABLES, destroy=True)
    with pytest.raises(PlanPolicyError, match="destroy-not-allowed"):
        runner.check(plan)
    runner.check(plan, destroy=True)
    runner.apply()
    assert fake.argvs()[2] == [
        "plan",
        "-input=false",
        "-no-color",
        "-destroy",
        "-out=tfplan",
        *VAR_ARGS,
    ]
    assert fake.argvs()[-1][0] == "apply"


def test_failing_plan_names_command_exit_code_and_last_lines(
    fake: FakeTerraform, workdir: Path
) -> None:
    fake.control(
        fail="plan",
        exit_code=1,
        fail_lines=[
            "╷",
            "│ Error: No valid credential sources found",
            "│ ",
            '│   with provider["registry.terraform.io/hashicorp/aws"],',
            "╵",
        ],
    )
    log: list[str] = []
    with pytest.raises(TerraformError) as caught:
        make_runner(fake, workdir, log=log).deploy(variables=VARIABLES)

    error = caught.value
    assert error.command == "terraform plan" and error.exit_code == 1
    assert "terraform plan failed with exit code 1" in str(error)
    assert "Error: No valid credential sources found" in str(error)
    assert any("No valid credential sources found" in line for line in error.tail)
    assert any("No valid credential sources found" in line for line in log)
    assert [argv[0] for argv in fake.argvs()] == ["init", "workspace", "plan"]


@pytest.mark.parametrize(("ignore_sigint", "how"), [(False, "interrupted"), (True, "killed")])
def test_hanging_command_is_stopped_at_the_time_limit(
    fake: FakeTerraform, workdir: Path, ignore_sigint: bool, how: str
) -> None:
    fake.control(
        plan_fixture=str(FIXTURES / "good_aws_ec2.json"),
        hang="apply",
        ignore_sigint=ignore_sigint,
    )
    runner = make_runner(fake, workdir, timeout_s=1.0, kill_grace_s=0.3)
    started = time.monotonic()
    with pytest.raises(TerraformTimeout) as caught:
        runner.deploy(variables=VARIABLES)
    elapsed = time.monotonic() - started

    assert elapsed < 8
    message = str(caught.value)
    assert "terraform apply did not finish within 1s" in message and how in message
    assert "Still creating" in message  # the last lines say where it was stuck
    child = fake.child_pid()
    assert child is not None
    deadline = time.monotonic() + 3
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child), "the process group outlived the timeout"


def test_outputs_are_parsed_and_sensitive_ones_withheld(fake: FakeTerraform, workdir: Path) -> None:
    outputs = {
        **OUTPUTS,
        "admin_password": {"sensitive": True, "type": "string", "value": "hunter2-hunter2"},
    }
    fake.control(plan_fixture=str(FIXTURES / "good_aws_ec2.json"), outputs=outputs)
    log: list[str] = []
    result = make_runner(fake, workdir, log=log).deploy(variables=VARIABLES)

    assert isinstance(result, Applied)
    assert result.url == "http://ec2-15-222-10-20.ca-central-1.compute.amazonaws.com:8080"
    assert result.outputs["public_ip"] == "15.222.10.20"
    assert result.outputs["instance_id"] == "i-0a1b2c3d4e5f67890"
    assert result.outputs["admin_password"] == "***"
    assert not any("hunter2" in line for line in log)


def test_policy_violation_stops_before_apply(fake: FakeTerraform, workdir: Path) -> None:
    fake.control(plan_fixture=str(FIXTURES / "ssh_open_inline.json"), outputs=OUTPUTS)
    log: list[str] = []
    with pytest.raises(PlanPolicyError) as caught:
        make_runner(fake, workdir, log=log).deploy(variables=VARIABLES)

    assert [v.rule for v in caught.value.violations] == ["admin-port-open-to-world"]
    assert "admin-port-open-to-world" in str(caught.value)
    assert "apply" not in [argv[0] for argv in fake.argvs()]
    assert any(line.startswith("terraform policy: [admin-port-open-to-world]") for line in log)


@pytest.mark.parametrize(("limit", "applies"), [(10.0, False), (30.0, True), (0.0, True)])
def test_a_plan_above_max_monthly_usd_is_refused_before_apply(
    fake: FakeTerraform, workdir: Path, limit: float, applies: bool
) -> None:
    # The good plan is a t2.small in ca-central-1: about $24.10 a month (tests/unit/test_cost.py).
    settings = make_settings(fake, credentials=True).model_copy(update={"max_monthly_usd": limit})
    log: list[str] = []
    runner = TerraformRunner(settings, workdir=workdir, job_id=JOB_ID, on_log=log.append)
    if applies:
        result = runner.deploy(variables=VARIABLES)
        assert isinstance(result, Applied) and result.cost is not None
        assert result.cost.monthly_usd == 24.10
    else:
        with pytest.raises(CostLimitError) as caught:
            runner.deploy(variables=VARIABLES)
        assert "about $24.10 a month in ca-central-1" in str(caught.value)
        assert "above MAX_MONTHLY_USD ($10.00): nothing was applied" in str(caught.value)
        with pytest.raises(TerraformError):
            runner.apply()  # the refused plan can not be applied afterwards either
    assert ("apply" in [argv[0] for argv in fake.argvs()]) is applies
    assert any(line.startswith("terraform: estimated cost about $24.10") for line in log)


def test_plan_for_another_job_is_refused(fake: FakeTerraform, workdir: Path) -> None:
    runner = TerraformRunner(
        make_settings(fake, credentials=True), workdir=workdir, job_id="some-other-job"
    )
    with pytest.raises(PlanPolicyError, match="missing-job-id-tag"):
        runner.deploy(variables=VARIABLES)
    assert "apply" not in [argv[0] for argv in fake.argvs()]


def test_sensitive_variables_travel_in_a_private_file(fake: FakeTerraform, workdir: Path) -> None:
    log: list[str] = []
    make_runner(fake, workdir, log=log).deploy(
        variables=VARIABLES, sensitive_variables={"api_key": "k3y-value-123456"}
    )
    plan = next(call for call in fake.calls() if call["argv"][0] == "plan")
    var_file = next(arg for arg in plan["argv"] if arg.startswith("-var-file="))
    (seen,) = plan["var_files"].values()
    assert seen == {"mode": "0o600", "names": ["api_key"]}
    assert not any("k3y-value-123456" in arg for call in fake.calls() for arg in call["argv"])
    assert not (workdir / var_file.split("=", 1)[1]).exists()
    assert not any("k3y-value-123456" in line for line in log)


def test_destroy_runs_in_the_job_workspace(fake: FakeTerraform, workdir: Path) -> None:
    make_runner(fake, workdir).destroy(variables=VARIABLES)
    assert fake.argvs() == [
        ["init", "-input=false", "-no-color"],
        ["workspace", "select", "-or-create", WORKSPACE],
        ["destroy", "-input=false", "-no-color", "-auto-approve", *VAR_ARGS],
    ]


@pytest.mark.parametrize("name", ["evil_override.tf", "override.tf.json", ".terraform"])
def test_files_that_would_change_the_checked_config_are_refused(
    fake: FakeTerraform, workdir: Path, name: str
) -> None:
    target = workdir / name
    if name == ".terraform":
        target.mkdir()
    else:
        target.write_text('terraform {\n  backend "local" {}\n}\n')
    with pytest.raises(TerraformError, match=name.replace(".", r"\.")):
        make_runner(fake, workdir).deploy(variables=VARIABLES)
    assert fake.argvs() == []


def test_find_terraform(
    tmp_path: Path, fake: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_terraform(str(fake.path)) == str(fake.path)
    monkeypatch.setenv("PATH", f"{fake.path.parent}{os.pathsep}/nonexistent")
    assert find_terraform("terraform") == str(fake.path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(
        TerraformError, match="terraform not found: install it or set TERRAFORM_BIN"
    ):
        find_terraform("terraform")
    with pytest.raises(TerraformError, match="terraform not found"):
        find_terraform(str(tmp_path / "no" / "terraform"))


def test_runner_without_terraform_fails_clearly(tmp_path: Path, workdir: Path) -> None:
    settings = Settings(_env_file=None, terraform_bin=str(tmp_path / "missing"))  # type: ignore[call-arg]
    with pytest.raises(TerraformError, match="install it or set TERRAFORM_BIN"):
        TerraformRunner(settings, workdir=workdir, job_id=JOB_ID)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/autodeploy",
            "postgresql://postgres@127.0.0.1:5432/autodeploy?sslmode=disable",
        ),
        (
            "postgresql+asyncpg://u:p@db.example.com/ad",
            "postgresql://u:p@db.example.com/ad?sslmode=require",
        ),
        (
            "postgres://u:p@db.example.com/ad?sslmode=verify-full",
            "postgresql://u:p@db.example.com/ad?sslmode=verify-full",
        ),
        (
            "postgresql:///ad?host=/var/run/postgresql&sslmode=prefer",
            "postgresql:///ad?host=/var/run/postgresql&sslmode=disable",
        ),
    ],
)
def test_state_conn_str_speaks_lib_pq(url: str, expected: str) -> None:
    assert state_conn_str(url) == expected


def test_workspace_name_is_per_job() -> None:
    assert workspace_name(JOB_ID) == WORKSPACE
    with pytest.raises(ValueError, match="cannot name a Terraform workspace"):
        workspace_name("../other")
