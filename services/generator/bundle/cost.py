"""The generated Terraform's monthly cost, before any plan exists (plan mode, DEPLOY.md).

The provisioner prices the real plan (`terraform show -json`) before it applies; this
prices what the bundle declares, with variable defaults standing in for the values a
plan would have, so a `mode: plan` job and DEPLOY.md show the figure too.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from shared.capabilities.iac_policy import TerraformModule, load_modules
from shared.cost import CostEstimate, PlannedResource, PriceTable, estimate

__all__ = ["estimate_bundle"]


def _resolved(mod: TerraformModule, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _resolved(mod, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(mod, v) for v in value]
    return mod.resolve(value)


def estimate_bundle(
    files: Mapping[str, str], target: str, *, table: PriceTable | None = None
) -> CostEstimate | None:
    """Price ``terraform/<target>/``'s resources in its ``region`` variable's default."""
    folder = f"terraform/{target}"
    tf = {p: t for p, t in files.items() if posixpath.dirname(p) == folder and p.endswith(".tf")}
    modules, violations = load_modules(tf)
    if violations or len(modules) != 1:
        return None
    mod = modules[0]
    region = mod.variables.get("region")
    if not isinstance(region, str):
        return None
    resources = [
        PlannedResource(address=f"{rtype}.{name}", type=rtype, values=_resolved(mod, body))
        for _, rtype, name, body in mod.typed("resource")
    ]
    return estimate(resources, region=region, table=table)
