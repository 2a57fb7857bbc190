"""The Terraform policy again, on the plan itself (``terraform show -json``), before any apply.

The generator checks the HCL it writes; this checks what Terraform actually intends to
do once variables, ``*.tfvars`` files, defaults and expressions are resolved. Same
allowlists, same rule ids (from ``shared.capabilities.iac_policy``); a violation's
``file`` is the resource address (``aws_instance.app``) and ``line`` is None.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

# The HCL policy's tables are reused on purpose: one allowlist, one set of admin ports,
# one list of taggable types, whichever form of the config is checked.
from shared.capabilities.iac_policy import (
    ADMIN_PORTS,
    ALLOWED_DATA_SOURCES,
    ALLOWED_INSTANCE_TYPES,
    ALLOWED_OUTPUTS,
    ALLOWED_PROVIDERS,
    ALLOWED_REGIONS,
    ALLOWED_RESOURCE_TYPES,
    JOB_LABEL,
    JOB_TAG,
    TAGGABLE_RESOURCE_TYPES,
    check_terraform_policy,
    is_world_cidr,
)
from shared.contracts.violations import Violation

__all__ = ["PLAN_LOCATION", "check_before_init", "check_plan"]

logger = logging.getLogger(__name__)

PLAN_LOCATION = "tfplan"  # the Violation.file of findings about the plan as a whole

# Registries whose "hashicorp/<name>" namespace is trusted; a provider called "aws" from
# any other namespace is someone else's code and is refused.
_TRUSTED_HOSTS = frozenset({"registry.terraform.io", "registry.opentofu.org"})
_TRUSTED_NAMESPACE = "hashicorp"
_DELETE = "delete"


def check_before_init(files: Mapping[str, str]) -> list[Violation]:
    """The HCL policy on the files about to be run, before ``terraform init``.

    The plan is checked too late for some things: ``init`` downloads whatever provider
    the configuration names, and ``plan`` evaluates file()/templatefile() on this
    machine. So the stored artifacts are checked again here, whatever the generator
    said: they could have been changed since.
    """
    return check_terraform_policy(files)


def check_plan(
    plan_json: Mapping[str, Any], *, destroy: bool = False, job_id: str | None = None
) -> list[Violation]:
    """Every policy breach in a ``terraform show -json`` plan (empty list = may be applied).

    ``destroy`` allows delete actions (teardown); ``job_id``, when given, must be the
    value of every resource's ``job_id`` tag, not just present.
    """
    violations = list(_check_format(plan_json))
    if violations:
        return violations
    changes = [c for c in plan_json.get("resource_changes") or [] if isinstance(c, dict)]
    provider_config = _dict(_dict(plan_json.get("configuration")).get("provider_config"))
    for check in (
        _check_providers(changes, provider_config),
        _check_provider_versions(provider_config),
        _check_outputs(plan_json),
        _check_configuration(_dict(plan_json.get("configuration"))),
        _check_data_sources(changes, _dict(plan_json.get("prior_state"))),
        _check_regions(plan_json, provider_config, changes),
        _check_actions(changes, destroy=destroy),
    ):
        violations.extend(check)
    for change in changes:
        if change.get("mode", "managed") != "managed":
            continue
        after = _dict(_dict(change.get("change")).get("after"))
        if not after:
            continue  # a pure delete: nothing will exist to check
        unknown = _dict(change.get("change")).get("after_unknown")
        address = str(change.get("address", "?"))
        rtype = str(change.get("type", ""))
        violations.extend(_check_resource_type(address, rtype))
        violations.extend(_check_instance_type(address, rtype, after, unknown))
        violations.extend(_check_ingress(address, rtype, after, unknown))
        violations.extend(_check_imds(address, rtype, after, unknown))
        violations.extend(_check_tags(address, rtype, after, unknown, provider_config, job_id))
    if violations:
        logger.info("plan policy refused %d item(s)", len(violations))
    return violations


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(value: Any) -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return _dict(value)


def _is_unknown(after_unknown: Any, *path: str | int) -> bool:
    """Whether the value at ``path`` (or any part of it) is only known after apply."""
    node = after_unknown
    for step in path:
        if node is True:
            return True
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict):
            node = node.get(step, False)
        else:
            return False
    return _contains_true(node)


def _contains_true(node: Any) -> bool:
    if node is True:
        return True
    if isinstance(node, dict):
        return any(_contains_true(v) for v in node.values())
    if isinstance(node, list):
        return any(_contains_true(v) for v in node)
    return False


def _check_format(plan: Mapping[str, Any]) -> Iterator[Violation]:
    version = plan.get("format_version")
    if not isinstance(version, str) or version.split(".", 1)[0] != "1":
        yield Violation(
            "plan-format-unsupported",
            PLAN_LOCATION,
            None,
            f"plan JSON format_version {version!r} is not 1.x; pass the output of "
            "`terraform show -json <planfile>` from Terraform >= 1.0",
        )
    elif plan.get("errored") is True:
        yield Violation(
            "plan-errored",
            PLAN_LOCATION,
            None,
            "Terraform marked this plan as errored; fix the errors in the plan output first",
        )


def _provider_problem(address: str) -> str | None:
    """Why a provider address is refused, or None. Accepts legacy bare names (``aws``)."""
    parts = address.split("/")
    if len(parts) == 1:
        host, namespace, name = "registry.terraform.io", _TRUSTED_NAMESPACE, parts[0]
    elif len(parts) == 2:
        host, (namespace, name) = "registry.terraform.io", parts
    elif len(parts) == 3:
        host, namespace, name = parts
    else:
        return f"provider address {address!r} is not a registry address"
    if name not in ALLOWED_PROVIDERS:
        return (
            f"provider {name!r} ({address}) is not allowed "
            f"(allowed: {', '.join(sorted(ALLOWED_PROVIDERS))})"
        )
    if host not in _TRUSTED_HOSTS or namespace != _TRUSTED_NAMESPACE:
        return (
            f"provider {address!r} is not the official {_TRUSTED_NAMESPACE}/{name}; "
            "source it from hashicorp"
        )
    return None


def _check_providers(
    changes: list[dict[str, Any]], provider_config: dict[str, Any]
) -> Iterator[Violation]:
    users: dict[str, list[str]] = {}
    for change in changes:
        users.setdefault(str(change.get("provider_name", "")), []).append(
            str(change.get("address", "?"))
        )
    seen: set[str] = set()  # one finding per provider, not one per resource
    for key, config in provider_config.items():
        address = str(_dict(config).get("full_name") or _dict(config).get("name") or key)
        problem = _provider_problem(address)
        if problem and address not in seen:
            seen.add(address)
            used = users.get(address, [])
            if used:
                more = f" and {len(used) - 3} more" if len(used) > 3 else ""
                problem += f"; used by {', '.join(used[:3])}{more}"
            yield Violation("provider-not-allowed", f"provider[{key}]", None, problem)
    for address, used in users.items():
        problem = _provider_problem(address) if address else "resource has no provider_name"
        if problem and address not in seen:
            seen.add(address)
            yield Violation("provider-not-allowed", used[0], None, problem)


def _check_provider_versions(provider_config: dict[str, Any]) -> Iterator[Violation]:
    """An allowed provider without a version constraint could be any release, at any time."""
    for key, config in provider_config.items():
        config = _dict(config)
        address = str(config.get("full_name") or config.get("name") or key)
        if _provider_problem(address) is None and not config.get("version_constraint"):
            yield Violation(
                "provider-unpinned",
                f"provider[{key}]",
                None,
                f"provider {address} has no version constraint; require it with one",
            )


def _check_outputs(plan: Mapping[str, Any]) -> Iterator[Violation]:
    """Outputs beyond the declared ones could carry secrets or host files to users."""
    root = _dict(_dict(plan.get("configuration")).get("root_module"))
    names = set(_dict(root.get("outputs")))
    names |= set(_dict(_dict(plan.get("planned_values")).get("outputs")))
    names |= set(_dict(plan.get("output_changes")))
    for name in sorted(names - ALLOWED_OUTPUTS):
        yield Violation(
            "output-not-allowed",
            f"output.{name}",
            None,
            f"output {name!r} is not one autodeploy declares; remove it",
        )


def _check_configuration(configuration: dict[str, Any]) -> Iterator[Violation]:
    root = _dict(configuration.get("root_module"))
    for name in _dict(root.get("module_calls")):
        yield Violation(
            "module-forbidden",
            f"module.{name}",
            None,
            f"module {name!r}: modules can pull in unreviewed code; inline the resources",
        )
    for resource in root.get("resources") or []:
        resource = _dict(resource)
        for prov in resource.get("provisioners") or []:
            kind = _dict(prov).get("type", "?")
            yield Violation(
                "provisioner-forbidden",
                str(resource.get("address", "?")),
                None,
                f"a {kind!r} provisioner runs arbitrary commands outside the plan; "
                "do the work in user data or the image instead",
            )


def _state_resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in module.get("resources") or []:
        if isinstance(resource, dict):
            yield resource
    for child in module.get("child_modules") or []:
        yield from _state_resources(_dict(child))


def _check_data_sources(
    changes: list[dict[str, Any]], prior_state: dict[str, Any]
) -> Iterator[Violation]:
    # Data sources read during plan live in prior_state; ones deferred to apply (their
    # arguments are unknown yet) appear in resource_changes with the "read" action.
    root = _dict(_dict(prior_state.get("values")).get("root_module"))
    sources = [r for r in _state_resources(root) if r.get("mode") == "data"]
    sources += [c for c in changes if c.get("mode") == "data"]
    seen: set[str] = set()
    for source in sources:
        address, dtype = str(source.get("address", "?")), str(source.get("type", ""))
        if address in seen:
            continue
        seen.add(address)
        if dtype == "external":
            yield Violation(
                "external-data-source",
                address,
                None,
                "the external data source runs a local program; remove it",
            )
        elif dtype not in ALLOWED_DATA_SOURCES:
            yield Violation(
                "data-source-not-allowed",
                address,
                None,
                f"data source type {dtype!r} is not on the allowlist",
            )


def _expression_value(plan: Mapping[str, Any], expression: Any) -> tuple[bool, Any]:
    """(resolved, value) for a configuration expression: a constant or one root variable."""
    expression = _dict(expression)
    if "constant_value" in expression:
        return True, expression["constant_value"]
    references = expression.get("references") or []
    variables = [r for r in references if isinstance(r, str) and r.startswith("var.")]
    if len(variables) == 1 and len(references) == 1:
        name = variables[0].split(".", 1)[1]
        entry = _dict(plan.get("variables")).get(name)
        if isinstance(entry, dict) and "value" in entry:
            return True, entry["value"]
    return False, None


def _check_regions(
    plan: Mapping[str, Any], provider_config: dict[str, Any], changes: list[dict[str, Any]]
) -> Iterator[Violation]:
    allowed = ", ".join(sorted(ALLOWED_REGIONS))
    for key, config in provider_config.items():
        config = _dict(config)
        if config.get("name") != "aws":
            continue
        location = f"provider[{key}]"
        expressions = _dict(config.get("expressions"))
        if "region" not in expressions:
            yield Violation(
                "region-unset",
                location,
                None,
                "the aws provider has no region, so it would come from the environment; "
                "set it explicitly",
            )
            continue
        resolved, region = (
            _expression_value(plan, expressions["region"]) if ":" not in key else (False, None)
        )
        if not resolved or not isinstance(region, str):
            yield Violation(
                "region-not-allowed",
                location,
                None,
                "the aws provider's region cannot be resolved to a literal; "
                "use a root variable or a constant",
            )
        elif region not in ALLOWED_REGIONS:
            yield Violation(
                "region-not-allowed",
                location,
                None,
                f"region {region!r} is not allowed (allowed: {allowed})",
            )
    # AWS provider 6 lets each resource override the region.
    for change in changes:
        region = _dict(_dict(change.get("change")).get("after")).get("region")
        if isinstance(region, str) and region not in ALLOWED_REGIONS:
            yield Violation(
                "region-not-allowed",
                str(change.get("address", "?")),
                None,
                f"region {region!r} is not allowed (allowed: {allowed})",
            )


def _check_actions(changes: list[dict[str, Any]], *, destroy: bool) -> Iterator[Violation]:
    if destroy:
        return
    for change in changes:
        actions = _dict(change.get("change")).get("actions") or []
        if _DELETE in actions:
            what = "replace" if len(actions) > 1 else "destroy"
            yield Violation(
                "destroy-not-allowed",
                str(change.get("address", "?")),
                None,
                f"the plan would {what} this resource ({'/'.join(actions)}); a deploy never "
                "destroys anything: tear the job down explicitly (DELETE /job/{id})",
            )


def _check_resource_type(address: str, rtype: str) -> Iterator[Violation]:
    if rtype.split("_", 1)[0] in ALLOWED_PROVIDERS and rtype not in ALLOWED_RESOURCE_TYPES:
        yield Violation(
            "resource-type-not-allowed",
            address,
            None,
            f"resource type {rtype!r} is not on the allowlist; use an allowed type",
        )


def _check_instance_type(
    address: str, rtype: str, after: dict[str, Any], unknown: Any
) -> Iterator[Violation]:
    if rtype in ("aws_instance", "aws_launch_template"):
        key = "instance_type"
        values = [after.get(key)] if after.get(key) is not None else []
    elif rtype == "aws_eks_node_group":
        key = "instance_types"
        raw = after.get(key)
        values = list(raw) if isinstance(raw, list) else []
    else:
        return
    if _is_unknown(unknown, key):
        yield Violation(
            "instance-type-not-allowed",
            address,
            None,
            f"{key} is only known after apply; make it a literal or a variable",
        )
        return
    if rtype == "aws_instance" and not values:
        values = [None]  # the provider would pick a default nobody reviewed
    for value in values:
        if value not in ALLOWED_INSTANCE_TYPES:
            yield Violation(
                "instance-type-not-allowed",
                address,
                None,
                f"instance type {value!r} is not allowed; "
                f"allowed: {', '.join(sorted(ALLOWED_INSTANCE_TYPES))}",
            )


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _admin_ports(rule: dict[str, Any], proto_key: str, unknown: Any) -> list[int]:
    """Admin ports a rule covers; unknown protocol or range counts as all of them."""
    if any(_is_unknown(unknown, k) for k in (proto_key, "from_port", "to_port")):
        return list(ADMIN_PORTS)
    protocol = str(rule.get(proto_key, "")).lower()
    if protocol in ("-1", "all"):
        return list(ADMIN_PORTS)
    if protocol not in ("tcp", "6"):
        return []
    low, high = _port(rule.get("from_port")), _port(rule.get("to_port"))
    if low is None or high is None:
        return list(ADMIN_PORTS)
    return [p for p in ADMIN_PORTS if low <= p <= high]


def _ingress_rules(
    rtype: str, after: dict[str, Any], unknown: Any
) -> Iterator[tuple[dict[str, Any], str, Any, tuple[str, ...]]]:
    """(rule, protocol key, its after_unknown, CIDR keys) for every ingress rule."""
    if rtype == "aws_security_group":
        if _is_unknown(unknown, "ingress") and not isinstance(after.get("ingress"), list):
            yield {}, "protocol", True, ("cidr_blocks", "ipv6_cidr_blocks")
            return
        unknown_rules = _dict(unknown).get("ingress")
        for index, rule in enumerate(after.get("ingress") or []):
            rule_unknown = (
                unknown_rules[index]
                if isinstance(unknown_rules, list) and index < len(unknown_rules)
                else unknown_rules is True
            )
            yield _dict(rule), "protocol", rule_unknown, ("cidr_blocks", "ipv6_cidr_blocks")
    elif rtype == "aws_security_group_rule" and after.get("type") == "ingress":
        yield after, "protocol", unknown, ("cidr_blocks", "ipv6_cidr_blocks")
    elif rtype == "aws_vpc_security_group_ingress_rule":
        yield after, "ip_protocol", unknown, ("cidr_ipv4", "cidr_ipv6")


def _check_ingress(
    address: str, rtype: str, after: dict[str, Any], unknown: Any
) -> Iterator[Violation]:
    for rule, proto_key, rule_unknown, cidr_keys in _ingress_rules(rtype, after, unknown):
        ports = _admin_ports(rule, proto_key, rule_unknown)
        if not ports:
            continue
        cidrs: list[Any] = []
        for key in cidr_keys:
            value = rule.get(key)
            cidrs += value if isinstance(value, list) else [value]
        undetermined = rule_unknown is True or any(_is_unknown(rule_unknown, k) for k in cidr_keys)
        if not undetermined and not any(is_world_cidr(c) for c in cidrs):
            continue
        services = "/".join(f"{ADMIN_PORTS[p]}({p})" for p in ports)
        why = (
            "may be open to any address (CIDR only known after apply)"
            if undetermined and not any(is_world_cidr(c) for c in cidrs)
            else "is open to the whole internet"
        )
        yield Violation(
            "admin-port-open-to-world",
            address,
            None,
            f"ingress covering {services} {why}; restrict it to an operator CIDR or remove it",
        )


def _check_imds(
    address: str, rtype: str, after: dict[str, Any], unknown: Any
) -> Iterator[Violation]:
    if rtype not in ("aws_instance", "aws_launch_template"):
        return
    tokens = _first(after.get("metadata_options")).get("http_tokens")
    if tokens != "required":
        now = (
            "is only known after apply"
            if _is_unknown(unknown, "metadata_options")
            else f"is {tokens!r}"
        )
        yield Violation(
            "imdsv2-required",
            address,
            None,
            f"metadata_options.http_tokens {now}; "
            'set metadata_options { http_tokens = "required" } (IMDSv2)',
        )


def _default_tags_have_job(provider_config: dict[str, Any]) -> bool:
    for config in provider_config.values():
        config = _dict(config)
        if config.get("name") != "aws":
            continue
        tags = _first(_dict(config.get("expressions")).get("default_tags")).get("tags")
        constant = _dict(tags).get("constant_value")
        if isinstance(constant, dict) and JOB_TAG in constant:
            return True
    return False


def _check_tags(
    address: str,
    rtype: str,
    after: dict[str, Any],
    unknown: Any,
    provider_config: dict[str, Any],
    job_id: str | None,
) -> Iterator[Violation]:
    if rtype.startswith("kubernetes_"):
        if "metadata" in after:
            labels = _dict(_first(after.get("metadata")).get("labels"))
            if JOB_LABEL not in labels:
                yield Violation(
                    "missing-job-id-tag",
                    address,
                    None,
                    f"no {JOB_LABEL!r} label; add it to metadata.labels",
                )
        return
    # The provider schema says what is taggable: tags/tags_all appear in the plan only
    # for resource types that have them.
    taggable = rtype in TAGGABLE_RESOURCE_TYPES or any(k in after for k in ("tags", "tags_all"))
    if not taggable:
        return
    tags = {**_dict(after.get("tags")), **_dict(after.get("tags_all"))}
    if JOB_TAG not in tags:
        if _is_unknown(unknown, "tags_all") and _default_tags_have_job(provider_config):
            return  # tags_all is computed later but default_tags carries the job id
        yield Violation(
            "missing-job-id-tag",
            address,
            None,
            f"no {JOB_TAG!r} tag in tags or tags_all; add it to the aws provider's "
            f"default_tags or tags = {{ {JOB_TAG} = var.job_id }}",
        )
    elif job_id is not None and tags[JOB_TAG] != job_id:
        yield Violation(
            "missing-job-id-tag",
            address,
            None,
            f"tag {JOB_TAG}={tags[JOB_TAG]!r} does not name this job ({job_id!r}); "
            "the bundle belongs to another job",
        )
