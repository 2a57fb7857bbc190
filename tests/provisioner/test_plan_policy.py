"""The plan policy refuses each bad ``terraform show -json`` fixture with its rule named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from services.generator.bundle import generate_bundle
from services.generator.bundle.tf_ec2 import render_aws_ec2
from services.provisioner.handlers import checked_terraform_files
from shared.capabilities.iac_policy import parse_hcl
from shared.capabilities.plan_policy import check_plan
from shared.stage import PermanentError
from tests.generator.stacks import STACKS

FIXTURES = Path(__file__).parent / "plan_fixtures"
JOB_ID = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"

EXPECTED: dict[str, set[str]] = {
    "good_aws_ec2.json": set(),
    "good_aws_serverless.json": set(),
    "good_kubernetes.json": set(),
    "ssh_open_inline.json": {"admin-port-open-to-world"},
    "ssh_open_rule.json": {"admin-port-open-to-world"},
    "rdp_range_ipv6.json": {"admin-port-open-to-world"},
    "all_protocols_open.json": {"admin-port-open-to-world"},
    "forbidden_region.json": {"region-not-allowed"},
    "forbidden_instance_type.json": {"instance-type-not-allowed"},
    "unknown_provider.json": {"provider-not-allowed"},
    "impostor_aws_provider.json": {"provider-not-allowed"},
    "missing_imdsv2.json": {"imdsv2-required"},
    "missing_job_id_tag.json": {"missing-job-id-tag"},
    "destroy_in_deploy.json": {"destroy-not-allowed"},
    "external_data_source.json": {"external-data-source", "provider-not-allowed"},
    "unpinned_aws_provider.json": {"provider-unpinned"},
    "extra_output.json": {"output-not-allowed"},
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def change(plan: dict[str, Any], address: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in plan["resource_changes"] if c["address"] == address)
    return found


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gets_exactly_its_rules(name: str) -> None:
    violations = check_plan(load(name), job_id=JOB_ID)
    assert {v.rule for v in violations} == EXPECTED[name], [str(v) for v in violations]
    for violation in violations:
        assert violation.line is None
        assert violation.file  # a resource address or provider[...]
        assert violation.message


def test_good_fixture_matches_the_generated_aws_ec2_terraform() -> None:
    files = render_aws_ec2(job_id=JOB_ID, ssh_cidr="", make_command="make up")
    doc = parse_hcl(files["main.tf"])
    declared = {
        f"{prefix}{rtype}.{name}"
        for kind, prefix in (("resource", ""), ("data", "data."))
        for entry in doc.get(kind, [])
        for rtype, named in entry.items()
        for name in named
    }
    plan = load("good_aws_ec2.json")
    planned = {c["address"] for c in plan["resource_changes"]}
    planned |= {r["address"] for r in plan["prior_state"]["values"]["root_module"]["resources"]}
    assert planned == declared
    outputs = {name for entry in parse_hcl(files["outputs.tf"])["output"] for name in entry}
    assert set(plan["output_changes"]) == outputs


@pytest.mark.parametrize(
    ("address", "detail"),
    [
        ("aws_security_group.app", "SSH(22)"),
        ("aws_security_group_rule.ssh", "SSH(22)"),
    ],
)
def test_ssh_messages_name_the_resource_and_port(address: str, detail: str) -> None:
    name = (
        "ssh_open_inline.json"
        if address.startswith("aws_security_group.")
        else "ssh_open_rule.json"
    )
    (violation,) = check_plan(load(name))
    assert violation.file == address
    assert detail in violation.message and "restrict" in violation.message


def test_rdp_range_names_rdp_only() -> None:
    (violation,) = check_plan(load("rdp_range_ipv6.json"))
    assert violation.file == "aws_vpc_security_group_ingress_rule.admin"
    assert "RDP(3389)" in violation.message and "SSH" not in violation.message


def test_ssh_from_an_operator_cidr_is_allowed() -> None:
    plan = load("ssh_open_inline.json")
    change(plan, "aws_security_group.app")["change"]["after"]["ingress"][1]["cidr_blocks"] = [
        "203.0.113.4/32"
    ]
    assert check_plan(plan) == []


def test_ssh_cidr_known_only_after_apply_counts_as_open() -> None:
    plan = load("ssh_open_rule.json")
    rule = change(plan, "aws_security_group_rule.ssh")["change"]
    del rule["after"]["cidr_blocks"]
    rule["after_unknown"]["cidr_blocks"] = True
    (violation,) = check_plan(plan)
    assert violation.rule == "admin-port-open-to-world"
    assert "known after apply" in violation.message


def test_destroy_actions_are_allowed_in_destroy_mode() -> None:
    plan = load("destroy_in_deploy.json")
    assert check_plan(plan, destroy=True) == []


def test_replacement_counts_as_destroy_outside_destroy_mode() -> None:
    plan = load("good_aws_ec2.json")
    change(plan, "aws_instance.app")["change"]["actions"] = ["delete", "create"]
    (violation,) = check_plan(plan)
    assert violation.rule == "destroy-not-allowed" and "replace" in violation.message


def test_region_names_the_refused_region() -> None:
    (violation,) = check_plan(load("forbidden_region.json"))
    assert violation.file == "provider[aws]"
    assert "ap-southeast-2" in violation.message


def test_constant_region_is_read_and_missing_region_is_refused() -> None:
    plan = load("good_aws_ec2.json")
    expressions = plan["configuration"]["provider_config"]["aws"]["expressions"]
    expressions["region"] = {"constant_value": "us-east-1"}
    assert check_plan(plan) == []
    expressions["region"] = {"constant_value": "sa-east-1"}
    assert {v.rule for v in check_plan(plan)} == {"region-not-allowed"}
    del expressions["region"]
    assert {v.rule for v in check_plan(plan)} == {"region-unset"}


def test_resource_level_region_is_checked() -> None:
    plan = load("good_aws_ec2.json")
    change(plan, "aws_s3_bucket.bundle")["change"]["after"]["region"] = "ap-east-1"
    (violation,) = check_plan(plan)
    assert (violation.rule, violation.file) == ("region-not-allowed", "aws_s3_bucket.bundle")


def test_imdsv2_unknown_at_plan_time_is_refused() -> None:
    plan = load("good_aws_ec2.json")
    instance = change(plan, "aws_instance.app")["change"]
    del instance["after"]["metadata_options"]
    instance["after_unknown"]["metadata_options"] = True
    (violation,) = check_plan(plan)
    assert violation.rule == "imdsv2-required" and "known after apply" in violation.message


def test_job_id_tag_must_name_this_job() -> None:
    plan = load("good_aws_ec2.json")
    assert check_plan(plan, job_id=JOB_ID) == []
    violations = check_plan(plan, job_id="another-job")
    assert violations and {v.rule for v in violations} == {"missing-job-id-tag"}
    assert "another-job" in violations[0].message


def test_forbidden_resource_type_of_an_allowed_provider() -> None:
    plan = load("good_aws_ec2.json")
    extra = copy.deepcopy(change(plan, "aws_s3_bucket.bundle"))
    extra.update(address="aws_db_instance.db", type="aws_db_instance", name="db")
    plan["resource_changes"].append(extra)
    assert {v.rule for v in check_plan(plan)} == {"resource-type-not-allowed"}


def test_kubernetes_resources_need_the_job_label() -> None:
    plan = load("good_aws_ec2.json")
    plan["configuration"]["provider_config"]["kubernetes"] = {
        "name": "kubernetes",
        "full_name": "registry.terraform.io/hashicorp/kubernetes",
        "version_constraint": "~> 2.31",
    }
    plan["resource_changes"].append(
        {
            "address": "kubernetes_namespace_v1.app",
            "mode": "managed",
            "type": "kubernetes_namespace_v1",
            "name": "app",
            "provider_name": "registry.terraform.io/hashicorp/kubernetes",
            "change": {
                "actions": ["create"],
                "after": {"metadata": [{"labels": {"team": "x"}, "name": "app"}]},
                "after_unknown": {"id": True},
            },
        }
    )
    (violation,) = check_plan(plan)
    assert violation.rule == "missing-job-id-tag" and "autodeploy/job-id" in violation.message


def test_provisioners_and_modules_in_the_configuration_are_refused() -> None:
    plan = load("good_aws_ec2.json")
    root = plan["configuration"]["root_module"]
    root["resources"][0]["provisioners"] = [{"type": "local-exec", "expressions": {}}]
    root["module_calls"] = {"vpc": {"source": "terraform-aws-modules/vpc/aws"}}
    assert {v.rule for v in check_plan(plan)} == {"provisioner-forbidden", "module-forbidden"}


@pytest.mark.parametrize("version", [None, "2.0", 1])
def test_unknown_plan_format_is_refused(version: object) -> None:
    plan = load("good_aws_ec2.json")
    plan["format_version"] = version
    assert [v.rule for v in check_plan(plan)] == ["plan-format-unsupported"]


def test_stored_terraform_is_checked_again_before_init() -> None:
    analysis = STACKS["python-fastapi"].model_copy(update={"target": "aws-ec2"})
    files = generate_bundle(analysis, job_id="job-init")
    assert "main.tf" in checked_terraform_files(files, "aws-ec2")
    # An artifact changed after the generator checked it: refused before terraform runs.
    main = "terraform/aws-ec2/main.tf"
    tampered = {
        **files,
        main: files[main] + 'output "passwd" {\n  value = file("/etc/passwd")\n}\n',
    }
    with pytest.raises(PermanentError) as caught:
        checked_terraform_files(tampered, "aws-ec2")
    assert "[host-read-function]" in str(caught.value)
    assert "[output-not-allowed]" in str(caught.value)
