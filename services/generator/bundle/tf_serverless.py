"""Terraform for aws-serverless: ECS Fargate behind an ALB, image in ECR, own VPC."""

from __future__ import annotations

from .envplan import BACKING, EnvPlan
from .images import BACKING_IMAGES
from .quoting import hcl_string
from .tf_common import (
    AVAILABILITY_ZONES,
    DEFAULT_REGION,
    ECR_REPOSITORY,
    EGRESS_ANYWHERE,
    GENERATED,
    IMAGE_TAG_VARIABLE,
    assume_role_policy,
    aws_header,
    aws_network,
    backing_env_expression,
    env_expression,
    job_variables,
    name_tags,
    output_block,
    random_passwords,
    required_secret_variables,
    variable_block,
)

__all__ = ["render_aws_serverless"]

_LOAD_BALANCER = """resource "aws_security_group" "alb" {
  name_prefix = "${local.name}-alb-"
  description = "autodeploy: HTTP to the load balancer"
  vpc_id      = aws_vpc.main.id

  ingress {
    description = "HTTP"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

%(egress)s
  tags = local.tags
}

# Tasks accept traffic only from the load balancer.
resource "aws_security_group" "task" {
  name_prefix = "${local.name}-task-"
  description = "autodeploy: app port from the ALB only"
  vpc_id      = aws_vpc.main.id

  ingress {
    description     = "App port from the ALB"
    from_port       = %(port)d
    to_port         = %(port)d
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }

%(egress)s
  tags = local.tags
}

resource "aws_lb" "app" {
  name_prefix        = "ad-"
  load_balancer_type = "application"
  internal           = false
  subnets            = aws_subnet.public[*].id
  security_groups    = [aws_security_group.alb.id]
  tags               = local.tags
}

resource "aws_lb_target_group" "app" {
  name_prefix = "ad-"
  port        = %(port)d
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = aws_vpc.main.id

  health_check {
    path    = %(health)s
    matcher = "200-499"
  }

  tags = local.tags
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.app.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }

  tags = local.tags
}
"""

_CLUSTER = """resource "aws_ecs_cluster" "main" {
  name = local.name
  tags = local.tags
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/autodeploy/${var.job_id}"
  retention_in_days = 14
  tags              = local.tags
}
"""

_EXECUTION_ROLE = """resource "aws_iam_role" "execution" {
  name_prefix        = "autodeploy-exec-"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}
"""

_SERVICE = """
resource "aws_ecs_task_definition" "app" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode(%(containers)s)
  tags                     = local.tags
}

resource "aws_ecs_service" "app" {
  name            = local.name
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.app.arn
  desired_count   = 1
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = aws_subnet.public[*].id
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = true
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app.arn
    container_name   = "app"
    container_port   = %(port)d
  }

  depends_on = [aws_lb_listener.http]
  tags       = local.tags
}
"""

_OUTPUTS = GENERATED + "\n".join(
    [
        output_block(
            "url", '"http://${aws_lb.app.dns_name}"', description="Where the app answers."
        ),
        output_block("ecr_repository_url", "aws_ecr_repository.app.repository_url"),
        output_block("cluster_id", "aws_ecs_cluster.main.id"),
        output_block("service_id", "aws_ecs_service.app.id"),
        output_block("load_balancer_arn", "aws_lb.app.arn"),
        output_block("vpc_id", "aws_vpc.main.id"),
    ]
)


def _container_defs(port: int, plan: EnvPlan, kinds: tuple[str, ...]) -> str:
    env_items = [f'{{ name = "PORT", value = "{port}" }}']
    for entry in plan.entries:
        expr = env_expression(entry)
        if expr is not None:
            env_items.append(f"{{ name = {hcl_string(entry.name)}, value = {expr} }}")
    log = (
        "logConfiguration = {\n"
        '        logDriver = "awslogs"\n'
        "        options = {\n"
        '          "awslogs-group"         = aws_cloudwatch_log_group.app.name\n'
        '          "awslogs-region"        = var.region\n'
        '          "awslogs-stream-prefix" = "%s"\n'
        "        }\n"
        "      }"
    )
    depends = [
        f'{{ containerName = "{BACKING[k].service}", '
        f'condition = "{"HEALTHY" if BACKING[k].healthcheck else "START"}" }}'
        for k in kinds
    ]
    app = (
        "    {\n"
        '      name         = "app"\n'
        '      image        = "${aws_ecr_repository.app.repository_url}:${var.image_tag}"\n'
        "      essential    = true\n"
        f'      portMappings = [{{ containerPort = {port}, protocol = "tcp" }}]\n'
        "      environment = [\n        "
        + ",\n        ".join(env_items)
        + "\n      ]\n"
        + (f"      dependsOn = [{', '.join(depends)}]\n" if depends else "")
        + "      "
        + log % "app"
        + "\n"
        "    }"
    )
    containers = [app]
    for kind in kinds:
        spec = BACKING[kind]
        env = ",\n        ".join(
            f"{{ name = {hcl_string(k)}, value = {backing_env_expression(v)} }}"
            for k, v in spec.env.items()
        )
        health_block = ""
        if spec.healthcheck:
            cmd = ", ".join(hcl_string(c) for c in spec.healthcheck)
            health_block = (
                f"      healthCheck = {{ command = [{cmd}], interval = 10, timeout = 5, "
                "retries = 10, startPeriod = 30 }\n"
            )
        containers.append(
            "    {\n"
            f"      name        = {hcl_string(spec.service)}\n"
            f"      image       = {hcl_string(BACKING_IMAGES[kind])}\n"
            "      essential   = true\n"
            f"      environment = [\n        {env}\n      ]\n"
            + health_block
            + "      "
            + log % spec.service
            + "\n"
            "    }"
        )
    return "[\n" + ",\n".join(containers) + "\n  ]"


def render_aws_serverless(
    *,
    job_id: str,
    port: int,
    health_path: str,
    plan: EnvPlan,
    kinds: tuple[str, ...],
    region: str = DEFAULT_REGION,
) -> dict[str, str]:
    """main.tf, variables.tf and outputs.tf for ``terraform/aws-serverless``."""
    main = "\n".join(
        [
            aws_header(job_id=job_id),
            AVAILABILITY_ZONES,
            aws_network(
                comment="# A dedicated VPC with two public subnets: an ALB needs two availability "
                "zones. Tasks\n# get public IPs to pull images, which avoids paying for a NAT "
                "gateway.",
                vpc_cidr="10.43.0.0/16",
                subnet_tags=name_tags("-public-${count.index}"),
                gateway_tags=name_tags(),
                route_tags="local.tags",
            ),
            _LOAD_BALANCER
            % {"port": port, "health": hcl_string(health_path), "egress": EGRESS_ANYWHERE},
            "# The provisioner builds the generated Dockerfile and pushes it here.\n"
            + ECR_REPOSITORY,
            _CLUSTER,
            assume_role_policy("assume_ecs_tasks", service="ecs-tasks.amazonaws.com"),
            _EXECUTION_ROLE,
        ]
    )
    passwords = random_passwords(plan)
    if passwords:
        main += (
            "\n# Secrets the app needs but nobody has to choose: generated, kept in state.\n"
            + passwords
        )
    main += _SERVICE % {"containers": _container_defs(port, plan, kinds), "port": port}
    variables = "\n".join(
        [
            GENERATED + job_variables(job_id=job_id, region=region),
            IMAGE_TAG_VARIABLE,
            variable_block(
                "cpu", description="Fargate task CPU units.", hcl_type="number", default="512"
            ),
            variable_block(
                "memory",
                description="Fargate task memory (MiB).",
                hcl_type="number",
                default="1024",
            ),
        ]
    )
    secrets = required_secret_variables(plan)
    if secrets:
        variables += "\n" + secrets
    return {"main.tf": main, "variables.tf": variables, "outputs.tf": _OUTPUTS}
