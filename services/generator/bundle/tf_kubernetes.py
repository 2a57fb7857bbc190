"""Terraform for the kubernetes target: Deployment, Service, Ingress; EKS only when asked."""

from __future__ import annotations

from .envplan import BACKING, EnvPlan
from .images import BACKING_IMAGES
from .quoting import hcl_string
from .tf_common import (
    AVAILABILITY_ZONES,
    DEFAULT_REGION,
    ECR_REPOSITORY,
    GENERATED,
    IMAGE_TAG_VARIABLE,
    assume_role_policy,
    aws_header,
    aws_network,
    backing_env_expression,
    env_expression,
    job_variables,
    output_block,
    random_passwords,
    required_secret_variables,
    terraform_header,
    variable_block,
)

__all__ = ["render_kubernetes"]

_PROVIDER_KUBECONFIG = """
# An existing cluster, reached through a kubeconfig the operator provides.
provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}
"""

_K8S_PROVIDER_EKS = """data "aws_eks_cluster_auth" "main" {
  name = aws_eks_cluster.main.name
}

provider "kubernetes" {
  host                   = aws_eks_cluster.main.endpoint
  cluster_ca_certificate = base64decode(aws_eks_cluster.main.certificate_authority[0].data)
  token                  = data.aws_eks_cluster_auth.main.token
}
"""

_EKS = """resource "aws_iam_role" "cluster" {
  name_prefix        = "autodeploy-eks-"
  assume_role_policy = data.aws_iam_policy_document.assume_eks.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_iam_role" "node" {
  name_prefix        = "autodeploy-node-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.node.name
  policy_arn = each.value
}

resource "aws_eks_cluster" "main" {
  name     = local.name
  role_arn = aws_iam_role.cluster.arn

  vpc_config {
    subnet_ids = aws_subnet.public[*].id
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy_attachment.cluster]
}

# Nodes launch from a template so IMDSv2 is enforced (hop limit 2: pods need one hop).
resource "aws_launch_template" "node" {
  name_prefix = "${local.name}-node-"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.tags
  }

  tags = local.tags
}

resource "aws_eks_node_group" "main" {
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = "default"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = aws_subnet.public[*].id
  instance_types  = [var.node_instance_type]

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  scaling_config {
    desired_size = 1
    min_size     = 1
    max_size     = 2
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy_attachment.node]
}
"""

_SUBNET_TAGS = """merge(local.tags, {
    Name                     = "${local.name}-public-${count.index}"
    "kubernetes.io/role/elb" = "1"
  })"""

_WORKLOAD = """
locals {
  labels = {
    "app.kubernetes.io/name"       = "app"
    "app.kubernetes.io/managed-by" = "autodeploy"
    "autodeploy/job-id"            = var.job_id
  }
  selector = {
    "app.kubernetes.io/name" = "app"
    "autodeploy/job-id"      = var.job_id
  }
}

resource "kubernetes_namespace_v1" "app" {
  metadata {
    name   = "autodeploy-${lower(var.job_id)}"
    labels = local.labels
  }
}

resource "kubernetes_deployment_v1" "app" {
  metadata {
    name      = "app"
    namespace = kubernetes_namespace_v1.app.metadata[0].name
    labels    = local.labels
  }

  spec {
    replicas = 1

    selector {
      match_labels = local.selector
    }

    template {
      metadata {
        labels = local.labels
      }

      spec {
        container {
          name  = "app"
          image = %(image)s

          port {
            container_port = %(port)d
          }
%(env)s
          security_context {
            allow_privilege_escalation = false
          }

          resources {
            requests = {
              cpu    = "100m"
              memory = "128Mi"
            }
            limits = {
              memory = "512Mi"
            }
          }

          # Probes use the health path the analysis found (any 2xx/3xx is healthy).
          readiness_probe {
            http_get {
              path = %(health)s
              port = %(port)d
            }
            initial_delay_seconds = 5
            period_seconds        = 10
          }

          liveness_probe {
            http_get {
              path = %(health)s
              port = %(port)d
            }
            initial_delay_seconds = 30
            period_seconds        = 20
            failure_threshold     = 3
          }
        }
%(sidecars)s      }
    }
  }
}

resource "kubernetes_service_v1" "app" {
  metadata {
    name      = "app"
    namespace = kubernetes_namespace_v1.app.metadata[0].name
    labels    = local.labels
  }

  spec {
    selector = local.selector
    type     = "ClusterIP"

    port {
      port        = 80
      target_port = %(port)d
    }
  }
}

resource "kubernetes_ingress_v1" "app" {
  metadata {
    name      = "app"
    namespace = kubernetes_namespace_v1.app.metadata[0].name
    labels    = local.labels
  }

  spec {
    ingress_class_name = var.ingress_class

    rule {
      host = var.domain == "" ? null : var.domain

      http {
        path {
          path      = "/"
          path_type = "Prefix"

          backend {
            service {
              name = kubernetes_service_v1.app.metadata[0].name
              port {
                number = 80
              }
            }
          }
        }
      }
    }
  }
}
"""

_INGRESS_ADDRESS = """locals {
  ingress_status = kubernetes_ingress_v1.app.status[0].load_balancer[0].ingress
  ingress_address = try(
    local.ingress_status[0].hostname,
    local.ingress_status[0].ip,
    "",
  )
}
"""

_OUTPUTS = GENERATED + "\n".join(
    [
        output_block(
            "url",
            'var.domain != "" ? "http://${var.domain}" : "http://${local.ingress_address}"',
            description="Where the app answers once the ingress controller has an address.",
        ),
        output_block("ingress_address", "local.ingress_address"),
        _INGRESS_ADDRESS,
        output_block("namespace", "kubernetes_namespace_v1.app.metadata[0].name"),
        output_block("deployment_name", "kubernetes_deployment_v1.app.metadata[0].name"),
    ]
)


def _env_blocks(port: int, plan: EnvPlan, indent: str) -> str:
    items = [("PORT", f'"{port}"')]
    for entry in plan.entries:
        expr = env_expression(entry)
        if expr is not None:
            items.append((entry.name, expr))
    return "".join(
        f"\n{indent}env {{\n{indent}  name  = {hcl_string(name)}\n"
        f"{indent}  value = {expr}\n{indent}}}\n"
        for name, expr in items
    )


def _sidecars(kinds: tuple[str, ...]) -> str:
    # Backing services run in the same pod (they share localhost); data is not persistent.
    out = []
    for kind in kinds:
        spec = BACKING[kind]
        env = "".join(
            f"\n          env {{\n            name  = {hcl_string(k)}\n"
            f"            value = {backing_env_expression(v)}\n          }}\n"
            for k, v in spec.env.items()
        )
        out.append(
            "\n        container {\n"
            f"          name  = {hcl_string(spec.service)}\n"
            f"          image = {hcl_string(BACKING_IMAGES[kind])}\n"
            f"{env}"
            "        }\n"
        )
    return "".join(out)


def render_kubernetes(
    *,
    job_id: str,
    port: int,
    health_path: str,
    plan: EnvPlan,
    kinds: tuple[str, ...],
    domain: str,
    with_eks: bool,
    region: str = DEFAULT_REGION,
    node_instance_type: str = "t3.medium",
) -> dict[str, str]:
    """main.tf, variables.tf and outputs.tf for ``terraform/kubernetes``."""
    if with_eks:
        main = "\n".join(
            [
                aws_header(job_id=job_id, extra_providers=("kubernetes",)),
                AVAILABILITY_ZONES,
                aws_network(
                    comment="# The cluster gets its own VPC; nodes sit in public subnets to "
                    "avoid a NAT gateway.",
                    vpc_cidr="10.44.0.0/16",
                    subnet_tags=_SUBNET_TAGS,
                    gateway_tags="local.tags",
                    route_tags="local.tags",
                ),
                assume_role_policy("assume_eks", service="eks.amazonaws.com"),
                assume_role_policy("assume_ec2", service="ec2.amazonaws.com"),
                _EKS,
                ECR_REPOSITORY,
                _K8S_PROVIDER_EKS,
            ]
        )
        image = '"${aws_ecr_repository.app.repository_url}:${var.image_tag}"'
    else:
        main = terraform_header(job_id, "kubernetes", "random") + _PROVIDER_KUBECONFIG
        image = "var.image"
    passwords = random_passwords(plan)
    if passwords:
        main += "\n" + passwords
    main += _WORKLOAD % {
        "image": image,
        "port": port,
        "health": hcl_string(health_path),
        "env": _env_blocks(port, plan, " " * 10),
        "sidecars": _sidecars(kinds),
    }
    if with_eks:
        target_variables = [
            variable_block(
                "node_instance_type",
                description="EKS worker node instance type.",
                default=hcl_string(node_instance_type),
            ),
            IMAGE_TAG_VARIABLE,
        ]
    else:
        target_variables = [
            variable_block(
                "kubeconfig_path",
                description="kubeconfig for the target cluster.",
                default='"~/.kube/config"',
            ),
            variable_block(
                "kube_context",
                description="kubeconfig context; null uses the current one.",
                default="null",
            ),
            variable_block(
                "image",
                description="The app image, built from the generated Dockerfile and pushed to a "
                "registry.",
            ),
        ]
    variables = "\n".join(
        [
            GENERATED + job_variables(job_id=job_id, aws=with_eks, region=region),
            *target_variables,
            variable_block(
                "domain",
                description="Host name for the ingress rule; empty matches any host.",
                default=hcl_string(domain),
            ),
            variable_block(
                "ingress_class",
                description="IngressClass that serves the app (e.g. nginx, alb, traefik).",
                default='"nginx"',
            ),
        ]
    )
    secrets = required_secret_variables(plan)
    if secrets:
        variables += "\n" + secrets
    outputs = _OUTPUTS
    if with_eks:  # where the provisioner pushes the image before the full apply
        outputs += "\n" + output_block(
            "ecr_repository_url", "aws_ecr_repository.app.repository_url"
        )
    return {"main.tf": main, "variables.tf": variables, "outputs.tf": outputs}
