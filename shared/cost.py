"""What a cloud deployment will cost a month, before anything is applied.

The estimate prices the resources a Terraform plan creates (or, in plan mode, the ones
the generated Terraform declares) with a price table shipped in the project
(`shared/prices/aws.json`; the table names its source and date, and COST_PRICE_TABLE
points at another). It counts what runs by the hour — instances, Fargate tasks, load
balancers, the EKS control plane, NAT gateways, public IPv4 addresses — and disks by the
GB-month. What is billed by use (requests, data transfer, logs, objects) is listed as not
estimated rather than guessed, and a resource type the table does not know is listed as
unpriced, so a total never looks more complete than it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PRICE_TABLE",
    "CostEstimate",
    "CostLine",
    "PlannedResource",
    "PriceTable",
    "estimate",
    "plan_region",
    "resources_from_plan",
]

DEFAULT_PRICE_TABLE = Path(__file__).with_name("prices") / "aws.json"

# Resources with no charge of their own (what they hold or route is priced elsewhere).
_FREE = frozenset(
    {
        "aws_vpc",
        "aws_subnet",
        "aws_internet_gateway",
        "aws_route_table",
        "aws_route_table_association",
        "aws_security_group",
        "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_iam_instance_profile",
        "aws_launch_template",
        "aws_lb_target_group",
        "aws_lb_listener",
        "aws_ecs_cluster",
        "aws_ecs_task_definition",  # priced through the services that run it
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "random_id",
        "random_password",
        "tls_private_key",
    }
)
# Billed by use: storage that grows, requests, log ingestion.
_BY_USE = frozenset(
    {"aws_s3_bucket", "aws_s3_object", "aws_cloudwatch_log_group", "aws_ecr_repository"}
)


@dataclass(frozen=True)
class PlannedResource:
    """One resource a plan creates: its address, type and known attribute values."""

    address: str
    type: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class CostLine:
    """One priced resource: what it is and what it costs a month."""

    address: str
    what: str
    monthly_usd: float


@dataclass
class CostEstimate:
    """The month's estimate for one plan, with what it could not price."""

    region: str
    lines: list[CostLine] = field(default_factory=list)
    by_use: list[str] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    source: str = ""
    date: str = ""

    @property
    def monthly_usd(self) -> float:
        """The total of the priced lines, rounded to cents."""
        return round(sum(line.monthly_usd for line in self.lines), 2)

    def summary(self) -> str:
        """One line for logs: the total and what is not in it."""
        text = f"about ${self.monthly_usd:.2f} a month in {self.region}"
        extra = []
        if self.by_use:
            extra.append(f"plus usage of {', '.join(self.by_use)}")
        if self.unpriced:
            extra.append(f"not priced: {', '.join(self.unpriced)}")
        return text + (f" ({'; '.join(extra)})" if extra else "")

    def as_dict(self) -> dict[str, Any]:
        """The estimate as stored in a job's result and shown by the API."""
        return {
            "monthly_usd": self.monthly_usd,
            "currency": "USD",
            "region": self.region,
            "lines": [
                {"address": line.address, "what": line.what, "monthly_usd": line.monthly_usd}
                for line in self.lines
            ],
            "usage_not_estimated": self.by_use,
            "unpriced": self.unpriced,
            "price_table": {"source": self.source, "date": self.date},
        }


class PriceTable:
    """Hourly and monthly prices per region, as read from a table file."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.source = str(data.get("source", ""))
        self.date = str(data.get("date", ""))
        self.hours = float(data.get("hours_per_month", 730))
        self._regions: Mapping[str, Mapping[str, Any]] = data.get("regions", {})

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """The table at ``path`` (COST_PRICE_TABLE), or the one shipped in the project."""
        return _load(str(path or DEFAULT_PRICE_TABLE))

    def regions(self) -> list[str]:
        """The regions the table prices."""
        return sorted(self._regions)

    def hourly(self, region: str, key: str) -> float | None:
        """A flat hourly price (``alb_hour``, ``eks_cluster_hour`` …) in ``region``."""
        value = self._regions.get(region, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    def instance_hourly(self, region: str, instance_type: str) -> float | None:
        """An instance type's on-demand hourly price in ``region``."""
        value = self._regions.get(region, {}).get("instance_hour", {}).get(instance_type)
        return float(value) if isinstance(value, int | float) else None

    def disk_monthly(self, region: str, volume_type: str) -> float | None:
        """A GB-month of EBS of ``volume_type`` in ``region``."""
        value = self._regions.get(region, {}).get("ebs_gb_month", {}).get(volume_type)
        return float(value) if isinstance(value, int | float) else None


@cache
def _load(path: str) -> PriceTable:
    return PriceTable(json.loads(Path(path).read_text()))


def resources_from_plan(plan_json: Mapping[str, Any]) -> list[PlannedResource]:
    """The resources a ``terraform show -json`` plan creates or keeps (not the deleted)."""
    found = []
    for rc in plan_json.get("resource_changes") or []:
        change = rc.get("change") or {}
        if rc.get("mode", "managed") != "managed" or change.get("actions") == ["delete"]:
            continue
        after = change.get("after")
        found.append(
            PlannedResource(
                address=str(rc.get("address", "")),
                type=str(rc.get("type", "")),
                values=after if isinstance(after, Mapping) else {},
            )
        )
    return found


def plan_region(plan_json: Mapping[str, Any]) -> str | None:
    """The AWS region a plan deploys to: its ``region`` variable, else the provider's."""
    variable = (plan_json.get("variables") or {}).get("region") or {}
    if isinstance(variable.get("value"), str):
        return str(variable["value"])
    providers = (plan_json.get("configuration") or {}).get("provider_config") or {}
    region = ((providers.get("aws") or {}).get("expressions") or {}).get("region") or {}
    value = region.get("constant_value")
    return value if isinstance(value, str) else None


def _first(value: Any) -> Mapping[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    return value if isinstance(value, Mapping) else {}


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) and number >= 0 else default


class _Pricer:
    """Prices resources of one region against one table, collecting what it cannot."""

    def __init__(self, table: PriceTable, region: str, resources: list[PlannedResource]) -> None:
        self.table = table
        self.region = region
        self.resources = resources
        self.result = CostEstimate(region=region, source=table.source, date=table.date)

    def add(self, address: str, what: str, monthly: float) -> None:
        self.result.lines.append(CostLine(address, what, round(monthly, 2)))

    def hourly_line(self, res: PlannedResource, key: str, what: str, count: float = 1) -> None:
        price = self.table.hourly(self.region, key)
        if price is None:
            self.result.unpriced.append(res.address)
            return
        self.add(res.address, what, price * count * self.table.hours)

    def disk(self, address: str, size_gb: float, volume_type: str) -> None:
        price = self.table.disk_monthly(self.region, volume_type)
        if price is None:
            self.result.unpriced.append(f"{address} ({volume_type} disk)")
            return
        self.add(address, f"{size_gb:g} GB {volume_type} disk", price * size_gb)

    def instance(self, res: PlannedResource, instance_type: Any, count: float = 1) -> bool:
        price = self.table.instance_hourly(self.region, str(instance_type))
        if price is None:
            self.result.unpriced.append(f"{res.address} ({instance_type})")
            return False
        label = f"{count:g} x {instance_type}" if count != 1 else str(instance_type)
        self.add(res.address, f"{label} instance, on demand", price * count * self.table.hours)
        return True

    def price(self, res: PlannedResource) -> None:
        v = res.values
        if res.type in _FREE:
            return
        if res.type in _BY_USE:
            self.result.by_use.append(res.address)
        elif res.type == "aws_instance":
            self.instance(res, v.get("instance_type"))
            root = _first(v.get("root_block_device"))
            volume_type = str(root.get("volume_type") or "gp3")
            self.disk(res.address, _number(root.get("volume_size"), 8), volume_type)
            if v.get("associate_public_ip_address") is True:
                self.hourly_line(res, "public_ipv4_hour", "public IPv4 address")
        elif res.type == "aws_eip":
            self.hourly_line(res, "public_ipv4_hour", "Elastic IP (public IPv4 address)")
        elif res.type == "aws_nat_gateway":
            self.hourly_line(res, "nat_gateway_hour", "NAT gateway (before data processed)")
        elif res.type in ("aws_lb", "aws_alb"):
            kind = "nlb" if v.get("load_balancer_type") == "network" else "alb"
            self.hourly_line(res, f"{kind}_hour", f"{kind.upper()} hours")
            self.hourly_line(res, f"{kind}_lcu_hour", f"{kind.upper()}, one capacity unit")
            if v.get("internal") is not True:  # one public IPv4 address per zone (≥ 2)
                subnets = v.get("subnets")
                zones = max(len(subnets), 2) if isinstance(subnets, list) else 2
                self.hourly_line(res, "public_ipv4_hour", f"{zones} public IPv4 addresses", zones)
        elif res.type == "aws_eks_cluster":
            self.hourly_line(res, "eks_cluster_hour", "EKS control plane")
        elif res.type == "aws_eks_node_group":
            scaling = _first(v.get("scaling_config"))
            count = _number(scaling.get("desired_size"), 1)
            types = v.get("instance_types") or ["t3.medium"]  # EKS's default
            self.instance(res, types[0] if isinstance(types, list) else types, count)
            self.disk(res.address, _number(v.get("disk_size"), 20) * count, "gp3")
        elif res.type == "aws_ebs_volume":
            self.disk(res.address, _number(v.get("size"), 8), str(v.get("type") or "gp3"))
        elif res.type == "aws_ecs_service":
            self.fargate(res)
        elif res.type.startswith("kubernetes_"):
            return  # runs on the cluster's nodes, priced with the node group
        else:
            self.result.unpriced.append(res.address)

    def fargate(self, res: PlannedResource) -> None:
        # A service's task definition is only a reference in a plan; with one Fargate task
        # definition in the plan (what the generator writes) that is the one it runs.
        tasks = [r for r in self.resources if r.type == "aws_ecs_task_definition"]
        vcpu_price = self.table.hourly(self.region, "fargate_vcpu_hour")
        gb_price = self.table.hourly(self.region, "fargate_gb_hour")
        if len(tasks) != 1 or vcpu_price is None or gb_price is None:
            self.result.unpriced.append(res.address)
            return
        task = tasks[0].values
        count = _number(res.values.get("desired_count"), 1)
        vcpu = _number(task.get("cpu"), 256) / 1024
        gb = _number(task.get("memory"), 512) / 1024
        hourly = (vcpu * vcpu_price + gb * gb_price) * count
        self.add(
            res.address,
            f"{count:g} Fargate task(s) of {vcpu:g} vCPU and {gb:g} GB",
            hourly * self.table.hours,
        )
        if _first(res.values.get("network_configuration")).get("assign_public_ip") is True:
            self.hourly_line(res, "public_ipv4_hour", "the tasks' public IPv4 addresses", count)


def estimate(
    resources: Iterable[PlannedResource], *, region: str, table: PriceTable | None = None
) -> CostEstimate:
    """Price ``resources`` in ``region``; unknown regions and types are listed, never guessed."""
    table = table or PriceTable.load()
    listed = list(resources)
    pricer = _Pricer(table, region, listed)
    if region not in table.regions():
        pricer.result.unpriced.append(f"everything (the price table has no region {region!r})")
        return pricer.result
    for res in listed:
        pricer.price(res)
    return pricer.result
