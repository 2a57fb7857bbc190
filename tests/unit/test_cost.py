"""Cost before apply: plan JSON in, a monthly estimate out, priced from the shipped table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cost import PriceTable, estimate, plan_region, resources_from_plan

HERE = Path(__file__).parent
EC2_PLAN = HERE.parent / "provisioner" / "plan_fixtures" / "good_aws_ec2.json"


def _plan(name: str) -> dict:
    return json.loads((HERE / "cost_plans" / name).read_text())


def _lines(cost) -> dict[str, float]:
    return {f"{line.address}: {line.what}": line.monthly_usd for line in cost.lines}


def test_a_t2_small_in_ca_central_1_comes_to_the_tables_figure() -> None:
    plan = json.loads(EC2_PLAN.read_text())
    table = PriceTable.load()
    cost = estimate(resources_from_plan(plan), region=plan_region(plan) or "", table=table)

    assert cost.region == "ca-central-1"
    hourly = table.instance_hourly("ca-central-1", "t2.small")
    assert hourly == 0.0256
    assert _lines(cost) == {
        "aws_instance.app: t2.small instance, on demand": round(hourly * 730, 2),  # 18.69
        "aws_instance.app: 20 GB gp3 disk": 1.76,
        "aws_instance.app: public IPv4 address": 3.65,
    }
    assert cost.monthly_usd == 24.10
    assert cost.by_use == ["aws_s3_bucket.bundle", "aws_s3_object.bundle"]
    assert cost.unpriced == []
    assert cost.summary().startswith("about $24.10 a month in ca-central-1")


def test_aws_serverless_prices_the_alb_and_the_fargate_tasks() -> None:
    plan = _plan("aws_serverless.json")
    cost = estimate(resources_from_plan(plan), region=plan_region(plan) or "")

    assert _lines(cost) == {
        "aws_lb.app: ALB hours": 18.40,
        "aws_lb.app: ALB, one capacity unit": 5.84,
        "aws_lb.app: 2 public IPv4 addresses": 7.30,
        "aws_ecs_service.app: 2 Fargate task(s) of 0.5 vCPU and 1 GB": 36.04,
        "aws_ecs_service.app: the tasks' public IPv4 addresses": 7.30,
    }
    assert cost.monthly_usd == 74.88
    # Billed by use, so listed and not guessed; the instance being deleted costs nothing.
    assert cost.by_use == ["aws_cloudwatch_log_group.app", "aws_ecr_repository.app"]
    assert cost.unpriced == []


def test_kubernetes_on_eks_prices_the_control_plane_and_nodes_and_lists_what_it_cannot() -> None:
    plan = _plan("kubernetes_eks.json")
    cost = estimate(resources_from_plan(plan), region=plan_region(plan) or "")

    assert _lines(cost) == {
        "aws_eks_cluster.main: EKS control plane": 73.00,
        "aws_eks_node_group.main: 2 x t3.small instance, on demand": 30.37,
        "aws_eks_node_group.main: 40 GB gp3 disk": 3.20,
        "aws_nat_gateway.main: NAT gateway (before data processed)": 32.85,
    }
    assert cost.monthly_usd == 139.42
    assert cost.unpriced == ["aws_db_instance.main"]
    assert "not priced: aws_db_instance.main" in cost.summary()


def test_a_region_or_instance_type_the_table_lacks_is_listed_not_guessed() -> None:
    plan = json.loads(EC2_PLAN.read_text())
    cost = estimate(resources_from_plan(plan), region="ap-south-7")
    assert cost.monthly_usd == 0 and cost.lines == []
    assert cost.unpriced == ["everything (the price table has no region 'ap-south-7')"]

    for rc in plan["resource_changes"]:
        if rc["type"] == "aws_instance":
            rc["change"]["after"]["instance_type"] = "x9.huge"
    cost = estimate(resources_from_plan(plan), region="ca-central-1")
    assert "aws_instance.app (x9.huge)" in cost.unpriced


def test_the_table_prices_every_region_and_instance_type_the_policy_allows() -> None:
    from shared.capabilities.iac_policy import ALLOWED_INSTANCE_TYPES, ALLOWED_REGIONS

    table = PriceTable.load()
    assert table.source and table.date
    for region in ALLOWED_REGIONS:
        assert region in table.regions(), region
        for instance_type in ALLOWED_INSTANCE_TYPES:
            assert table.instance_hourly(region, instance_type), (region, instance_type)
        for key in ("fargate_vcpu_hour", "alb_hour", "eks_cluster_hour", "public_ipv4_hour"):
            assert table.hourly(region, key), (region, key)


def test_a_price_table_of_ones_own(tmp_path: Path) -> None:
    own = tmp_path / "prices.json"
    own.write_text(
        json.dumps(
            {
                "source": "our negotiated rates",
                "date": "2026-11-30",
                "regions": {"ca-central-1": {"instance_hour": {"t2.small": 0.01}}},
            }
        )
    )
    plan = json.loads(EC2_PLAN.read_text())
    cost = estimate(resources_from_plan(plan), region="ca-central-1", table=PriceTable.load(own))
    assert _lines(cost)["aws_instance.app: t2.small instance, on demand"] == 7.30
    assert cost.as_dict()["price_table"] == {"source": "our negotiated rates", "date": "2026-11-30"}
    assert "aws_instance.app (gp3 disk)" in cost.unpriced


@pytest.mark.parametrize(
    ("target", "total"), [("aws-ec2", 24.10), ("aws-serverless", 55.27), ("kubernetes", None)]
)
def test_the_generated_bundle_is_priced_for_plan_mode_and_deploy_md(target, total) -> None:
    from services.generator.bundle import generate_bundle
    from services.generator.bundle.cost import estimate_bundle
    from tests.generator.stacks import STACKS

    analysis = STACKS["python-flask"].model_copy(update={"target": target})
    files = generate_bundle(analysis, job_id="job-cost")
    cost = estimate_bundle(files, target)
    deploy_md = files["DEPLOY.md"]
    if total is None:  # kubernetes on a cluster you bring: none of our AWS resources
        assert cost is None
        assert "No AWS resources of ours to price" in deploy_md
        return
    assert cost is not None and cost.monthly_usd == total
    assert f"Estimated about ${total:.2f} a month in ca-central-1" in deploy_md
