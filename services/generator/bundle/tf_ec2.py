"""Terraform for the aws-ec2 target: own VPC, one Ubuntu 24.04 instance running ``make up``."""

from __future__ import annotations

import ipaddress

from .quoting import hcl_string
from .tf_common import (
    AVAILABILITY_ZONES,
    DEFAULT_REGION,
    EGRESS_ANYWHERE,
    GENERATED,
    assume_role_policy,
    aws_header,
    aws_network,
    job_variables,
    name_tags,
    output_block,
    variable_block,
)

__all__ = ["render_aws_ec2", "validate_ssh_cidr"]

UBUNTU_OWNER = "099720109477"
UBUNTU_NAME_FILTER = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"


def validate_ssh_cidr(cidr: str | None) -> str:
    """Return a normalized CIDR for SSH ingress, "" for none; refuse the whole internet."""
    if not cidr:
        return ""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"ssh_cidr {cidr!r} is not a CIDR block (e.g. 203.0.113.4/32)") from exc
    if network.prefixlen == 0:
        raise ValueError(
            f"ssh_cidr {cidr!r} opens SSH to the whole internet; give your own address, e.g. "
            "203.0.113.4/32"
        )
    return str(network)


_AMI = """# Ubuntu 24.04 LTS (noble), published by Canonical.
data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = [%(owner)s]

  filter {
    name   = "name"
    values = [%(ami_filter)s]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}
"""

_INSTANCE = """resource "aws_security_group" "app" {
  name_prefix = "${local.name}-"
  description = "autodeploy: the app port only; SSH only from var.ssh_cidr when set"
  vpc_id      = aws_vpc.main.id

  ingress {
    description = "App"
    from_port   = 8080
    to_port     = 8080
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  # Off unless an operator CIDR is configured; never open to the internet.
  dynamic "ingress" {
    for_each = var.ssh_cidr == "" ? [] : [var.ssh_cidr]
    content {
      description = "SSH from the operator's network"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = [ingress.value]
    }
  }

  # The instance pulls packages, base images and app dependencies.
%(egress)s
  tags = merge(local.tags, { Name = local.name })

  lifecycle {
    create_before_destroy = true
  }
}

# The bundle (repository + generated files) travels through a private bucket.
resource "aws_s3_bucket" "bundle" {
  bucket_prefix = "autodeploy-bundle-"
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "bundle" {
  bucket                  = aws_s3_bucket.bundle.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "bundle" {
  bucket = aws_s3_bucket.bundle.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_object" "bundle" {
  bucket = aws_s3_bucket.bundle.id
  key    = "bundle.tar.gz"
  source = var.bundle_archive
  etag   = filemd5(var.bundle_archive)
  tags   = local.tags
}

%(assume_ec2)s
data "aws_iam_policy_document" "bundle_read" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.bundle.arn}/${aws_s3_object.bundle.key}"]
  }
}

# The instance may read its own bundle object and nothing else.
resource "aws_iam_role" "instance" {
  name_prefix        = "autodeploy-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "bundle_read" {
  name   = "bundle-read"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.bundle_read.json
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "autodeploy-"
  role        = aws_iam_role.instance.name
  tags        = local.tags
}

resource "aws_instance" "app" {
  ami                         = data.aws_ami.ubuntu.id
  instance_type               = var.instance_type
  subnet_id                   = aws_subnet.public.id
  vpc_security_group_ids      = [aws_security_group.app.id]
  iam_instance_profile        = aws_iam_instance_profile.instance.name
  associate_public_ip_address = true
  key_name                    = var.key_name

  user_data = templatefile("${path.module}/user_data.sh", {
    bucket = aws_s3_bucket.bundle.id
    key    = aws_s3_object.bundle.key
    region = var.region
  })
  user_data_replace_on_change = true

  # IMDSv2 only; a hop limit of 1 keeps containers away from the instance credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
    tags        = local.tags
  }

  tags = merge(local.tags, { Name = local.name })
}
"""

_SSH_CIDR_VALIDATION = """  validation {
    condition = (
      var.ssh_cidr == "" ||
      (can(cidrhost(var.ssh_cidr, 0)) && !endswith(var.ssh_cidr, "/0"))
    )
    error_message = "ssh_cidr must be empty or a CIDR narrower than the whole internet."
  }
"""

_OUTPUTS = GENERATED + "\n".join(
    [
        output_block(
            "url",
            '"http://${aws_instance.app.public_dns}:8080"',
            description="Where the app answers.",
        ),
        output_block("public_ip", "aws_instance.app.public_ip"),
        output_block("instance_id", "aws_instance.app.id"),
        output_block("vpc_id", "aws_vpc.main.id"),
        output_block("subnet_id", "aws_subnet.public.id"),
        output_block("security_group_id", "aws_security_group.app.id"),
        output_block("bundle_bucket", "aws_s3_bucket.bundle.id"),
    ]
)

_USER_DATA = """#!/bin/bash
# shellcheck disable=SC2154
# (bucket, key and region are filled in by Terraform's templatefile(); nothing else
# in this script is a template placeholder, so shell variables use the $NAME form.)
# Generated by autodeploy: install Docker, fetch the bundle, start it with make.
set -euo pipefail
exec >>/var/log/autodeploy.log 2>&1

BUCKET="${bucket}"
KEY="${key}"
REGION="${region}"
WORK=/opt/autodeploy
ARCHIVE=$WORK/bundle.tar.gz

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \\
  docker.io docker-compose-v2 make python3-boto3 ca-certificates
systemctl enable --now docker

mkdir -p "$WORK/app"
# A fresh instance profile can take a few seconds to become usable: retry the download.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if python3 - "$REGION" "$BUCKET" "$KEY" "$ARCHIVE" <<'PY'
import sys

import boto3

region, bucket, key, dest = sys.argv[1:5]
boto3.client("s3", region_name=region).download_file(bucket, key, dest)
PY
  then
    break
  fi
  echo "bundle download failed (attempt $attempt), retrying" >&2
  sleep 10
done
if [ ! -s "$ARCHIVE" ]; then
  echo "could not download s3://$BUCKET/$KEY; check the instance role" >&2
  exit 1
fi

tar -xzf "$ARCHIVE" -C "$WORK/app"
cd "$WORK/app"
HOST_PORT=8080 %(make)s
"""


def render_aws_ec2(
    *,
    job_id: str,
    ssh_cidr: str,
    make_command: str,
    region: str = DEFAULT_REGION,
    instance_type: str = "t2.small",
) -> dict[str, str]:
    """main.tf, variables.tf, outputs.tf and user_data.sh for ``terraform/aws-ec2``."""
    main = "\n".join(
        [
            aws_header(job_id=job_id),
            AVAILABILITY_ZONES,
            _AMI
            % {"owner": hcl_string(UBUNTU_OWNER), "ami_filter": hcl_string(UBUNTU_NAME_FILTER)},
            aws_network(
                comment="# A dedicated network per job: nothing else shares the VPC, subnet or "
                "security group.",
                vpc_cidr="10.42.0.0/16",
                single_subnet="10.42.1.0/24",
                subnet_tags=name_tags("-public"),
                gateway_tags=name_tags(),
                route_tags=name_tags("-public"),
            ),
            _INSTANCE
            % {
                "egress": EGRESS_ANYWHERE,
                "assume_ec2": assume_role_policy("assume_ec2", service="ec2.amazonaws.com"),
            },
        ]
    )
    variables = "\n".join(
        [
            GENERATED + job_variables(job_id=job_id, region=region),
            variable_block(
                "instance_type", description="EC2 instance type.", default=hcl_string(instance_type)
            ),
            variable_block(
                "ssh_cidr",
                description="CIDR allowed to reach SSH (22). Empty keeps SSH closed.",
                default=hcl_string(ssh_cidr),
                validation=_SSH_CIDR_VALIDATION,
            ),
            variable_block(
                "key_name",
                description="Optional EC2 key pair for SSH (only useful with ssh_cidr).",
                default="null",
            ),
            variable_block(
                "bundle_archive",
                description="Path to the .tar.gz of the repository with the generated bundle "
                "at its root.",
            ),
        ]
    )
    return {
        "main.tf": main,
        "variables.tf": variables,
        "outputs.tf": _OUTPUTS,
        "user_data.sh": _USER_DATA % {"make": make_command},
    }
