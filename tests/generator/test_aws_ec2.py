"""Every point of the aws-ec2 scope, asserted on the parsed HCL of a generated bundle."""

from __future__ import annotations

from typing import Any

import pytest

from services.generator.bundle import generate_bundle
from shared.capabilities.iac_policy import parse_hcl
from tests.generator.stacks import STACKS

JOB = "job-ec2"


def _module(ssh_cidr: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    bundle = generate_bundle(
        STACKS["python-flask"].model_copy(update={"target": "aws-ec2"}),
        job_id=JOB,
        ssh_cidr=ssh_cidr,
    )
    files = {
        k.removeprefix("terraform/aws-ec2/"): v
        for k, v in bundle.items()
        if k.startswith("terraform/aws-ec2/")
    }
    merged: dict[str, Any] = {}
    for name, text in files.items():
        if name.endswith(".tf"):
            for key, value in parse_hcl(text).items():
                merged.setdefault(key, []).extend(value)
    return merged, files


def _resources(doc: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in doc.get("resource", []):
        out.update(entry.get(rtype, {}))
    return out


def _variables(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v.get("default") for entry in doc["variable"] for k, v in entry.items()}


def test_region_instance_type_and_ami() -> None:
    doc, _ = _module()
    variables = _variables(doc)
    (provider,) = [p["aws"] for p in doc["provider"] if "aws" in p]
    assert provider["region"] == "${var.region}" and variables["region"] == "ca-central-1"
    (instance,) = _resources(doc, "aws_instance").values()
    assert (
        instance["instance_type"] == "${var.instance_type}"
        and variables["instance_type"] == "t2.small"
    )
    ami = next(e["aws_ami"] for e in doc["data"] if "aws_ami" in e)["ubuntu"]
    assert ami["owners"] == ["099720109477"]
    name_filter = next(f for f in ami["filter"] if f["name"] == "name")
    assert name_filter["values"] == ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
    assert instance["ami"] == "${data.aws_ami.ubuntu.id}"


def test_instance_lives_in_the_bundles_own_vpc() -> None:
    doc, _ = _module()
    assert list(_resources(doc, "aws_vpc")) == ["main"]
    subnet = _resources(doc, "aws_subnet")["public"]
    assert subnet["vpc_id"] == "${aws_vpc.main.id}" and subnet["map_public_ip_on_launch"] is True
    igw = _resources(doc, "aws_internet_gateway")["main"]
    assert igw["vpc_id"] == "${aws_vpc.main.id}"
    table = _resources(doc, "aws_route_table")["public"]
    assert table["route"][0]["gateway_id"] == "${aws_internet_gateway.main.id}"
    assoc = _resources(doc, "aws_route_table_association")["public"]
    assert assoc["subnet_id"] == "${aws_subnet.public.id}"
    sg = _resources(doc, "aws_security_group")["app"]
    assert sg["vpc_id"] == "${aws_vpc.main.id}"
    (instance,) = _resources(doc, "aws_instance").values()
    assert instance["subnet_id"] == "${aws_subnet.public.id}"
    assert instance["vpc_security_group_ids"] == ["${aws_security_group.app.id}"]


def test_only_8080_is_open_and_ssh_is_off_by_default() -> None:
    doc, _ = _module()
    sg = _resources(doc, "aws_security_group")["app"]
    (ingress,) = sg["ingress"]
    assert (ingress["from_port"], ingress["to_port"], ingress["cidr_blocks"]) == (
        8080,
        8080,
        ["0.0.0.0/0"],
    )
    (dynamic,) = sg["dynamic"]
    assert dynamic["ingress"]["for_each"] == '${var.ssh_cidr == "" ? [] : [var.ssh_cidr]}'
    assert dynamic["ingress"]["content"][0]["from_port"] == 22
    assert _variables(doc)["ssh_cidr"] == ""


def test_ssh_only_from_the_given_cidr() -> None:
    doc, _ = _module(ssh_cidr="203.0.113.7/32")
    assert _variables(doc)["ssh_cidr"] == "203.0.113.7/32"
    sg = _resources(doc, "aws_security_group")["app"]
    assert sg["dynamic"][0]["ingress"]["content"][0]["cidr_blocks"] == ["${ingress.value}"]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "not-a-cidr"])
def test_world_or_garbage_ssh_cidr_is_refused(cidr: str) -> None:
    with pytest.raises(ValueError, match="ssh_cidr"):
        _module(ssh_cidr=cidr)


def test_imdsv2_and_instance_profile_with_bundle_read_only() -> None:
    doc, _ = _module()
    (instance,) = _resources(doc, "aws_instance").values()
    assert instance["metadata_options"][0]["http_tokens"] == "required"
    assert instance["iam_instance_profile"] == "${aws_iam_instance_profile.instance.name}"
    policy_doc = next(
        e["aws_iam_policy_document"]
        for e in doc["data"]
        if "aws_iam_policy_document" in e and "bundle_read" in e["aws_iam_policy_document"]
    )
    statement = policy_doc["bundle_read"]["statement"][0]
    assert statement["actions"] == ["s3:GetObject"]
    assert "aws_s3_object.bundle.key" in statement["resources"][0]
    obj = _resources(doc, "aws_s3_object")["bundle"]
    assert (
        obj["bucket"] == "${aws_s3_bucket.bundle.id}" and obj["source"] == "${var.bundle_archive}"
    )


def test_every_taggable_resource_carries_the_job_id() -> None:
    doc, _ = _module()
    (provider,) = [p["aws"] for p in doc["provider"] if "aws" in p]
    assert provider["default_tags"][0]["tags"] == "${local.tags}"
    local_tags = next(e["tags"] for e in doc["locals"] if "tags" in e)
    assert local_tags["job_id"] == "${var.job_id}"
    assert _variables(doc)["job_id"] == JOB
    for rtype in (
        "aws_vpc",
        "aws_subnet",
        "aws_internet_gateway",
        "aws_route_table",
        "aws_security_group",
        "aws_instance",
        "aws_s3_bucket",
        "aws_iam_role",
    ):
        for body in _resources(doc, rtype).values():
            assert "local.tags" in str(body["tags"]), rtype


def test_user_data_installs_docker_fetches_bundle_and_runs_make_up() -> None:
    doc, files = _module()
    (instance,) = _resources(doc, "aws_instance").values()
    assert 'templatefile("${path.module}/user_data.sh"' in instance["user_data"]
    script = files["user_data.sh"]
    lines = script.splitlines()

    def index(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    install = index("docker.io docker-compose-v2")
    fetch = index("download_file(bucket, key, dest)")
    unpack = index('tar -xzf "$ARCHIVE"')
    up = index("make up")
    assert install < fetch < unpack < up
    assert lines[up].strip() == "HOST_PORT=8080 make up"


def test_outputs_cover_url_ip_and_ids() -> None:
    doc, _ = _module()
    outputs = {k: v for entry in doc["output"] for k, v in entry.items()}
    assert outputs["url"]["value"] == "http://${aws_instance.app.public_dns}:8080"
    assert {"public_ip", "instance_id", "vpc_id", "subnet_id", "security_group_id"} <= set(outputs)


@pytest.mark.parametrize("target", ["aws-ec2", "aws-serverless", "kubernetes"])
def test_region_and_size_from_the_description_reach_the_terraform_variables(target) -> None:
    from services.analyzer.detect.description import parse_description

    base = STACKS["python-flask"]
    description = parse_description(f"deploy it to {target} on a bigger machine in eu-west-1")
    if target == "kubernetes":  # on EKS, so there is an AWS region and a node size
        description = description.model_copy(update={"app_hint": "an EKS cluster"})
    analysis = base.model_copy(update={"target": target, "description": description})
    bundle = generate_bundle(analysis, job_id=JOB)
    variables = parse_hcl(bundle[f"terraform/{target}/variables.tf"])
    defaults = {n: body.get("default") for v in variables["variable"] for n, body in v.items()}
    assert defaults["region"] == "eu-west-1"
    size_variable = {"aws-ec2": "instance_type", "kubernetes": "node_instance_type"}.get(target)
    if size_variable:
        assert defaults[size_variable] == "t2.medium"
    from services.generator.bundle import validate_bundle

    assert validate_bundle(bundle) == []


def test_a_region_the_policy_does_not_allow_is_refused_with_the_allowed_ones() -> None:
    from services.analyzer.detect.description import parse_description
    from services.generator.bundle import validate_bundle

    analysis = STACKS["python-flask"].model_copy(
        update={"target": "aws-ec2", "description": parse_description("a VM in ap-south-1")}
    )
    violations = validate_bundle(generate_bundle(analysis, job_id=JOB))
    assert any(
        "region 'ap-south-1' is not allowed" in str(v) and "ca-central-1" in str(v)
        for v in violations
    ), violations


@pytest.mark.parametrize("own", ["Makefile", "makefile", "GNUmakefile"])
def test_the_vm_runs_make_up_even_when_the_repository_has_its_own_make_file(own) -> None:
    # Issue 23 point 5: the instance runs plain `make up`, and it is ours (GNUmakefile).
    base = STACKS["python-flask"]
    analysis = base.model_copy(update={"target": "aws-ec2", "tree": [*base.tree, own]})
    bundle = generate_bundle(analysis, job_id=JOB)
    script = bundle["terraform/aws-ec2/user_data.sh"]
    assert "HOST_PORT=8080 make up" in script and "make -f" not in script
    assert bundle["GNUmakefile"].endswith("include autodeploy.mk\n")
    assert "autodeploy.mk" in bundle
