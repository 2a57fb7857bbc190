"""The Terraform policy refuses each hand-written bad fixture with the rule named."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.generator.bundle import generate_bundle, validate_bundle
from shared.capabilities.iac_policy import check_terraform_policy
from tests.generator.stacks import STACKS

FIXTURES = Path(__file__).parent / "policy_fixtures"

EXPECTED = {
    "ssh_open_to_world.tf": "admin-port-open-to-world",
    "rdp_open_ipv6.tf": "admin-port-open-to-world",
    "local_exec.tf": "provisioner-forbidden",
    "external_data.tf": "external-data-source",
    "forbidden_region.tf": "region-not-allowed",
    "forbidden_instance_type.tf": "instance-type-not-allowed",
    "unknown_provider.tf": "provider-not-allowed",
    "missing_imdsv2.tf": "imdsv2-required",
    "missing_tags.tf": "missing-job-id-tag",
    "impostor_provider.tf": "provider-impostor",
    "unpinned_provider.tf": "provider-unpinned",
    "file_function.tf": "host-read-function",
    "templatefile_home.tf": "host-read-function",
    "extra_output.tf": "output-not-allowed",
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.tf")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_refused_with_its_rule(name: str) -> None:
    path = f"terraform/fixture/{name}"
    violations = check_terraform_policy({path: (FIXTURES / name).read_text()})
    rules = {v.rule for v in violations}
    assert EXPECTED[name] in rules, violations
    hit = next(v for v in violations if v.rule == EXPECTED[name])
    assert hit.file == path
    assert hit.line is not None and hit.line >= 1
    # validate_bundle refuses it too: the policy is part of the release gate.
    assert EXPECTED[name] in {
        v.rule for v in validate_bundle({path: (FIXTURES / name).read_text()})
    }


def test_ssh_range_message_names_the_port() -> None:
    text = (FIXTURES / "ssh_open_to_world.tf").read_text()
    (violation,) = check_terraform_policy({"x/main.tf": text})
    assert "SSH(22)" in violation.message and "restrict" in violation.message


def test_ssh_from_a_narrow_cidr_is_allowed() -> None:
    text = (FIXTURES / "ssh_open_to_world.tf").read_text().replace("0.0.0.0/0", "203.0.113.0/24")
    assert check_terraform_policy({"x/main.tf": text}) == []


def test_all_protocols_open_to_world_counts_as_ssh() -> None:
    text = (FIXTURES / "ssh_open_to_world.tf").read_text().replace('"tcp"', '"-1"')
    assert {v.rule for v in check_terraform_policy({"x/main.tf": text})} == {
        "admin-port-open-to-world"
    }


def test_ssh_cidr_variable_default_is_resolved() -> None:
    bundle = generate_bundle(
        STACKS["python-flask"].model_copy(update={"target": "aws-ec2"}), job_id="j1"
    )
    tf = {k: v for k, v in bundle.items() if k.endswith(".tf")}
    variables = "terraform/aws-ec2/variables.tf"
    tf[variables] = tf[variables].replace(
        'default     = ""\n\n  validation', 'default     = "0.0.0.0/0"\n\n  validation'
    )
    assert "admin-port-open-to-world" in {v.rule for v in check_terraform_policy(tf)}


def test_unparseable_terraform_is_a_violation() -> None:
    (violation,) = check_terraform_policy({"t/main.tf": 'resource "aws_vpc" "x" {\n  cidr = \n'})
    assert violation.rule == "hcl-parse"


def test_module_blocks_are_refused() -> None:
    text = 'module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n'
    assert [v.rule for v in check_terraform_policy({"t/main.tf": text})] == ["module-forbidden"]


def test_unlisted_resource_type_is_refused() -> None:
    text = (
        (FIXTURES / "missing_imdsv2.tf")
        .read_text()
        .replace(
            'resource "aws_instance" "v1" {\n  ami           = "ami-123"\n'
            '  instance_type = "t2.small"\n}',
            'resource "aws_iam_user" "u" {\n  name = "x"\n}',
        )
    )
    assert [v.rule for v in check_terraform_policy({"t/main.tf": text})] == [
        "resource-type-not-allowed"
    ]


MODULE_FILE = 'user_data = templatefile("${path.module}/%s", { bucket = "b" })'


@pytest.mark.parametrize(
    ("argument", "refused"),
    [
        ("user_data.sh", False),  # a file of the checked bundle, in the same folder
        ("missing.sh", True),  # not in the bundle: whatever the host has there
        ("../../../etc/passwd", True),
    ],
)
def test_templatefile_may_only_read_a_file_of_its_own_folder(argument: str, refused: bool) -> None:
    text = (FIXTURES / "file_function.tf").read_text()
    text = text.replace('content = file("/etc/passwd")', MODULE_FILE % argument)
    files = {"t/main.tf": text, "t/user_data.sh": "#!/bin/sh\necho hi\n"}
    rules = {v.rule for v in check_terraform_policy(files)}
    assert ("host-read-function" in rules) is refused, rules


@pytest.mark.parametrize("target", ["aws-ec2", "aws-serverless", "kubernetes"])
def test_generated_terraform_pins_its_providers_and_declares_only_allowed_outputs(
    target: str,
) -> None:
    analysis = STACKS["python-fastapi"].model_copy(update={"target": target})
    bundle = generate_bundle(analysis, job_id="job-pins")
    assert check_terraform_policy(bundle) == []
    # Swapping one provider's source for an impostor is caught in every target.
    tf = {p: t for p, t in bundle.items() if p.endswith(".tf")}
    swapped = {p: t.replace('"hashicorp/', '"evil-corp/', 1) for p, t in tf.items()}
    assert "provider-impostor" in {v.rule for v in check_terraform_policy(swapped)}
