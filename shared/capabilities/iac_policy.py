"""The Terraform policy: what generated infrastructure may contain, checked on parsed HCL."""

from __future__ import annotations

import ipaddress
import logging
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import hcl2

from shared.contracts.violations import Violation

__all__ = [
    "ADMIN_PORTS",
    "ALLOWED_DATA_SOURCES",
    "ALLOWED_INSTANCE_TYPES",
    "ALLOWED_OUTPUTS",
    "ALLOWED_PROVIDERS",
    "ALLOWED_PROVIDER_SOURCES",
    "ALLOWED_REGIONS",
    "ALLOWED_RESOURCE_TYPES",
    "JOB_LABEL",
    "JOB_TAG",
    "TAGGABLE_RESOURCE_TYPES",
    "TerraformModule",
    "check_terraform_policy",
    "is_world_cidr",
    "load_modules",
    "parse_hcl",
]

logger = logging.getLogger(__name__)

ALLOWED_PROVIDERS = frozenset({"aws", "kubernetes", "random", "tls"})
# The one source each provider may come from: a provider with the right local name and
# another source is someone else's code that init would download and run.
ALLOWED_PROVIDER_SOURCES = {name: f"hashicorp/{name}" for name in ALLOWED_PROVIDERS}
_SOURCE_HOSTS = ("", "registry.terraform.io/", "registry.opentofu.org/")
# The outputs the generated Terraform declares (see tf_ec2/tf_serverless/tf_kubernetes);
# outputs are shown to users, so another one could carry a secret or a host file out.
ALLOWED_OUTPUTS = frozenset(
    {
        "url", "public_ip", "instance_id", "vpc_id", "subnet_id", "security_group_id",
        "bundle_bucket", "ingress_address", "namespace", "deployment_name",
        "ecr_repository_url", "cluster_id", "service_id", "load_balancer_arn",
    }
)  # fmt: skip
# Functions that read the machine running Terraform: host files, the home directory.
HOST_READING_FUNCTIONS = (
    "file", "filebase64", "filebase64sha256", "filebase64sha512", "filemd5", "filesha1",
    "filesha256", "filesha512", "fileexists", "fileset", "templatefile", "pathexpand",
    "abspath",
)  # fmt: skip
_HOST_READ_RE = re.compile(rf"\b({'|'.join(HOST_READING_FUNCTIONS)})\s*\(")
# The forms allowed: file()/templatefile() of a file shipped in the same folder, and a
# file*() of a variable the provisioner always sets itself on the command line (the
# bundle archive it built), so no default or tfvars file can point it elsewhere.
_MODULE_FILE_RE = re.compile(r'\s*"\$\{path\.module\}/([A-Za-z0-9_.-]+)"')
PROVISIONER_FILE_VARIABLES = frozenset({"bundle_archive"})
_VARIABLE_ARG_RE = re.compile(r"\s*var\.([A-Za-z_][\w-]*)\s*\)")
ALLOWED_REGIONS = frozenset(
    {"ca-central-1", "ca-west-1", "us-east-1", "us-east-2", "us-west-2", "eu-west-1"}
)
ALLOWED_INSTANCE_TYPES = frozenset(
    {
        "t2.micro",
        "t2.small",
        "t2.medium",
        "t3.micro",
        "t3.small",
        "t3.medium",
        "t3a.small",
        "t3a.medium",
    }
)
ALLOWED_RESOURCE_TYPES = frozenset(
    {
        # network
        "aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_route_table",
        "aws_route_table_association", "aws_security_group", "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule",
        # compute and bundle delivery
        "aws_instance", "aws_launch_template", "aws_s3_bucket", "aws_s3_object",
        "aws_s3_bucket_public_access_block", "aws_s3_bucket_server_side_encryption_configuration",
        "aws_iam_role", "aws_iam_role_policy", "aws_iam_role_policy_attachment",
        "aws_iam_instance_profile",
        # serverless
        "aws_ecr_repository", "aws_ecs_cluster", "aws_ecs_task_definition", "aws_ecs_service",
        "aws_lb", "aws_lb_target_group", "aws_lb_listener", "aws_cloudwatch_log_group",
        # kubernetes / EKS
        "aws_eks_cluster", "aws_eks_node_group",
        "kubernetes_namespace_v1", "kubernetes_deployment_v1", "kubernetes_service_v1",
        "kubernetes_ingress_v1", "kubernetes_secret_v1", "kubernetes_config_map_v1",
        # helpers
        "random_password", "random_id", "tls_private_key",
    }
)  # fmt: skip
ALLOWED_DATA_SOURCES = frozenset(
    {
        "aws_ami", "aws_availability_zones", "aws_iam_policy_document", "aws_caller_identity",
        "aws_region", "aws_partition", "aws_eks_cluster_auth",
    }
)  # fmt: skip
# Resource types that accept `tags` and must carry the job id (unless default_tags does).
TAGGABLE_RESOURCE_TYPES = frozenset(
    {
        "aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_route_table", "aws_security_group",
        "aws_instance", "aws_launch_template", "aws_s3_bucket", "aws_s3_object", "aws_iam_role",
        "aws_iam_instance_profile", "aws_ecr_repository", "aws_ecs_cluster",
        "aws_ecs_task_definition", "aws_ecs_service", "aws_lb", "aws_lb_target_group",
        "aws_lb_listener", "aws_cloudwatch_log_group", "aws_eks_cluster", "aws_eks_node_group",
        "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule",
    }
)  # fmt: skip
JOB_TAG = "job_id"
JOB_LABEL = "autodeploy/job-id"
# Ports that must never be reachable from the whole internet, with the service they carry.
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
_VAR_RE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
_LOCAL_RE = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")
_LITERAL_CIDR_RE = re.compile(r'"([0-9a-fA-F:.]+/\d{1,3})"')


def _strip_meta(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_meta(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_strip_meta(v) for v in value]
    return value


def _unquote(value: Any) -> Any:
    """Older python-hcl2 releases keep no quotes, newer ones do unless told: normalize."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def parse_hcl(text: str) -> dict[str, Any]:
    """Parse Terraform text into plain dicts (labels and strings without quotes)."""
    options_cls = getattr(hcl2, "SerializationOptions", None)
    if options_cls is not None:
        parsed = hcl2.loads(
            text, serialization_options=options_cls(strip_string_quotes=True, with_comments=False)
        )
    else:  # python-hcl2 < 7
        parsed = hcl2.loads(text)
    result = _unquote(_strip_meta(parsed))
    assert isinstance(result, dict)
    return result


@dataclass
class TerraformModule:
    """All .tf files of one directory: Terraform evaluates them as one module."""

    directory: str
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)  # every bundle file in the directory
    variables: dict[str, Any] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)

    def blocks(self, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(file, label, body) for one-label blocks such as provider/variable/module."""
        for file, doc in self.docs.items():
            for entry in doc.get(kind, []):
                for label, body in entry.items():
                    yield file, label, body if isinstance(body, dict) else {}

    def typed(self, kind: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(file, type, name, body) for resource/data blocks."""
        for file, doc in self.docs.items():
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    for name, body in (named or {}).items():
                        yield file, rtype, name, body if isinstance(body, dict) else {}

    def line(self, file: str, pattern: str) -> int | None:
        """First line in ``file`` matching ``pattern``."""
        regex = re.compile(pattern)
        for number, text in enumerate(self.texts.get(file, "").splitlines(), start=1):
            if regex.search(text):
                return number
        return None

    def resolve(self, value: Any) -> Any:
        """A literal, or the default of a single ``var.x`` reference; None if unknown."""
        if isinstance(value, str):
            match = re.fullmatch(r"\$\{var\.([A-Za-z_][\w-]*)\}", value)
            if match:
                return self.variables.get(match.group(1))
            if "${" in value:
                return None
        return value


def _block_line(
    mod: TerraformModule, file: str, kind: str, rtype: str, name: str | None = None
) -> int | None:
    pattern = rf'^\s*{kind}\s+"?{re.escape(rtype)}"?'
    if name is not None:
        pattern += rf'\s+"?{re.escape(name)}"?'
    return mod.line(file, pattern)


def _first(value: Any) -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) else {}


def load_modules(files: Mapping[str, str]) -> tuple[list[TerraformModule], list[Violation]]:
    """The bundle's .tf files grouped per directory (one module each), and parse failures."""
    modules: dict[str, TerraformModule] = {}
    violations: list[Violation] = []
    directories: dict[str, set[str]] = {}
    for path in files:
        directories.setdefault(posixpath.dirname(path), set()).add(path)
    for path, text in sorted(files.items()):
        if not path.endswith(".tf"):
            continue
        directory = posixpath.dirname(path)
        mod = modules.setdefault(
            directory, TerraformModule(directory, paths=directories[directory])
        )
        mod.texts[path] = text
        try:
            mod.docs[path] = parse_hcl(text)
        except Exception as exc:  # the parser raises lark errors of many kinds
            line = getattr(exc, "line", None)
            violations.append(
                Violation(
                    "hcl-parse",
                    path,
                    line if isinstance(line, int) else None,
                    f"does not parse as HCL ({single_exc(exc)}); fix the syntax",
                )
            )
    for mod in modules.values():
        for _, name, body in mod.blocks("variable"):
            mod.variables[name] = body.get("default")
        for doc in mod.docs.values():
            for entry in doc.get("locals", []):
                mod.locals.update(entry)
    return list(modules.values()), violations


def single_exc(exc: BaseException) -> str:
    """First line of an exception message."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _provider_of(rtype: str) -> str:
    return rtype.split("_", 1)[0]


def _check_providers(mod: TerraformModule) -> Iterator[Violation]:
    for file, name, _ in mod.blocks("provider"):
        if name not in ALLOWED_PROVIDERS:
            yield Violation(
                "provider-not-allowed",
                file,
                _block_line(mod, file, "provider", name),
                f"provider {name!r} is not allowed (allowed: "
                f"{', '.join(sorted(ALLOWED_PROVIDERS))}); "
                "use one of those or extend the policy deliberately",
            )
    for file, doc in mod.docs.items():
        for tf in doc.get("terraform", []):
            for req in tf.get("required_providers", []):
                for name in req:
                    if name not in ALLOWED_PROVIDERS:
                        yield Violation(
                            "provider-not-allowed",
                            file,
                            mod.line(file, rf"^\s*{re.escape(name)}\s*="),
                            f"required provider {name!r} is not allowed; remove it",
                        )
            if "cloud" in tf or "backend" in tf:
                pass  # state location is the provisioner's choice; not a policy matter


def _normal_source(source: object) -> str | None:
    text = str(source).strip().lower() if isinstance(source, str) else ""
    for host in _SOURCE_HOSTS:
        if host and text.startswith(host):
            return text[len(host) :]
    return text or None


def _used_providers(mod: TerraformModule) -> Iterator[tuple[str, str, int | None]]:
    """(local name, file, line) of every provider the module uses."""
    for file, name, _ in mod.blocks("provider"):
        yield name, file, _block_line(mod, file, "provider", name)
    for kind in ("resource", "data"):
        for file, rtype, name, _ in mod.typed(kind):
            if rtype != "external":  # refused on its own, by _check_types
                yield _provider_of(rtype), file, _block_line(mod, file, kind, rtype, name)


def _check_provider_sources(mod: TerraformModule) -> Iterator[Violation]:
    """Each provider is required from its one allowed source, with a version constraint."""
    required: dict[str, dict[str, Any]] = {}
    for file, doc in mod.docs.items():
        for tf in doc.get("terraform", []):
            for req in tf.get("required_providers", []):
                for name, spec in req.items():
                    required[name] = spec if isinstance(spec, dict) else {}
                    line = mod.line(file, rf"^\s*{re.escape(name)}\s*=")
                    if name not in ALLOWED_PROVIDER_SOURCES:
                        continue  # refused by _check_providers
                    source = _normal_source(required[name].get("source"))
                    if source != ALLOWED_PROVIDER_SOURCES[name]:
                        yield Violation(
                            "provider-impostor",
                            file,
                            line,
                            f"provider {name!r} must come from {ALLOWED_PROVIDER_SOURCES[name]}"
                            f", not {required[name].get('source') or '(no source)'}; init would "
                            "download and run that code",
                        )
                    if not str(required[name].get("version") or "").strip():
                        yield Violation(
                            "provider-unpinned",
                            file,
                            line,
                            f"provider {name!r} has no version constraint; add e.g. "
                            'version = "~> 5.60"',
                        )
    reported: set[str] = set()
    for name, file, line in _used_providers(mod):
        if name in ALLOWED_PROVIDERS and name not in required and name not in reported:
            reported.add(name)
            yield Violation(
                "provider-unpinned",
                file,
                line,
                f"provider {name!r} is used but not in required_providers; declare it "
                f'with source = "{ALLOWED_PROVIDER_SOURCES[name]}" and a version',
            )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _host_reads(mod: TerraformModule, expression: str) -> Iterator[str]:
    """The host-reading calls in one expression, but file()s of the module's own files."""
    for match in _HOST_READ_RE.finditer(expression):
        function = match.group(1)
        own = _MODULE_FILE_RE.match(expression, match.end())
        if (
            function in {"file", "templatefile"}
            and own is not None
            and posixpath.join(mod.directory, own.group(1)) in mod.paths
        ):
            continue
        variable = _VARIABLE_ARG_RE.match(expression, match.end())
        if (
            function.startswith("file")
            and function not in {"fileset", "fileexists"}
            and variable is not None
            and variable.group(1) in PROVISIONER_FILE_VARIABLES
        ):
            continue
        yield function


def _check_functions(mod: TerraformModule) -> Iterator[Violation]:
    """No expression reads the machine Terraform runs on (evaluated at plan, before policy)."""
    for file, doc in mod.docs.items():
        seen: set[str] = set()
        for text in _strings(doc):
            if "${" not in text:
                continue  # a plain string: no function is called
            for function in _host_reads(mod, text):
                if function in seen:
                    continue
                seen.add(function)
                yield Violation(
                    "host-read-function",
                    file,
                    mod.line(file, rf"\b{function}\s*\("),
                    f"{function}() reads the machine that runs Terraform (its files or home "
                    "directory); only file()/templatefile() of a file in this folder, "
                    '"${path.module}/<name>", is allowed',
                )


def _check_outputs(mod: TerraformModule) -> Iterator[Violation]:
    for file, name, _ in mod.blocks("output"):
        if name not in ALLOWED_OUTPUTS:
            yield Violation(
                "output-not-allowed",
                file,
                _block_line(mod, file, "output", name),
                f"output {name!r} is not one autodeploy declares (allowed: "
                f"{', '.join(sorted(ALLOWED_OUTPUTS))}); outputs are shown to users, so "
                "remove it",
            )


def _check_types(mod: TerraformModule) -> Iterator[Violation]:
    for file, rtype, name, body in mod.typed("resource"):
        line = _block_line(mod, file, "resource", rtype, name)
        if _provider_of(rtype) not in ALLOWED_PROVIDERS:
            yield Violation(
                "provider-not-allowed",
                file,
                line,
                f"resource {rtype}.{name} belongs to provider {_provider_of(rtype)!r}, "
                "which is not allowed",
            )
        elif rtype not in ALLOWED_RESOURCE_TYPES:
            yield Violation(
                "resource-type-not-allowed",
                file,
                line,
                f"resource type {rtype!r} is not on the allowlist; use an allowed type",
            )
        for prov in body.get("provisioner", []):
            for kind in prov:
                yield Violation(
                    "provisioner-forbidden",
                    file,
                    mod.line(file, rf'provisioner\s+"{re.escape(kind)}"') or line,
                    f"{rtype}.{name} uses a {kind!r} provisioner; provisioners run arbitrary "
                    "commands "
                    "outside the plan — do the work in user data or the image instead",
                )
    for file, rtype, name, _ in mod.typed("data"):
        line = _block_line(mod, file, "data", rtype, name)
        if rtype == "external":
            yield Violation(
                "external-data-source",
                file,
                line,
                f"data.external.{name} runs a local program during plan; remove it",
            )
        elif _provider_of(rtype) not in ALLOWED_PROVIDERS:
            yield Violation(
                "provider-not-allowed",
                file,
                line,
                f"data source {rtype}.{name} belongs to provider {_provider_of(rtype)!r}, "
                "which is not allowed",
            )
        elif rtype not in ALLOWED_DATA_SOURCES:
            yield Violation(
                "data-source-not-allowed",
                file,
                line,
                f"data source type {rtype!r} is not on the allowlist",
            )
    for file, name, _ in mod.blocks("module"):
        yield Violation(
            "module-forbidden",
            file,
            _block_line(mod, file, "module", name),
            f"module {name!r}: modules can pull in unreviewed code; inline the resources",
        )


def _check_regions(mod: TerraformModule) -> Iterator[Violation]:
    for file, name, body in mod.blocks("provider"):
        if name != "aws":
            continue
        line = _block_line(mod, file, "provider", name)
        if "region" not in body:
            yield Violation(
                "region-unset",
                file,
                line,
                "the aws provider has no region, so it would come from the environment; "
                "set it explicitly",
            )
            continue
        region = mod.resolve(body["region"])
        if not isinstance(region, str):
            yield Violation(
                "region-not-allowed",
                file,
                line,
                f"region {body['region']!r} cannot be resolved to a literal; "
                "use a variable with a default",
            )
        elif region not in ALLOWED_REGIONS:
            yield Violation(
                "region-not-allowed",
                file,
                line,
                f"region {region!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_REGIONS))})",
            )


def _check_instance_types(mod: TerraformModule) -> Iterator[Violation]:
    for file, rtype, name, body in mod.typed("resource"):
        candidates: list[Any] = []
        if rtype in ("aws_instance", "aws_launch_template") and "instance_type" in body:
            candidates.append(body["instance_type"])
        elif rtype == "aws_eks_node_group":
            types = body.get("instance_types", [])
            candidates.extend(types if isinstance(types, list) else [types])
        for raw in candidates:
            value = mod.resolve(raw)
            if value not in ALLOWED_INSTANCE_TYPES:
                yield Violation(
                    "instance-type-not-allowed",
                    file,
                    _block_line(mod, file, "resource", rtype, name),
                    f"{rtype}.{name} uses instance type {value if value is not None else raw!r}; "
                    f"allowed: {', '.join(sorted(ALLOWED_INSTANCE_TYPES))}",
                )


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return None


def is_world_cidr(cidr: Any) -> bool:
    """True when ``cidr`` is a CIDR string that covers every address (``/0``)."""
    if not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _cidr_candidates(mod: TerraformModule, raw: Any, context: str) -> tuple[list[str], bool]:
    """CIDRs a value may take, and whether some could not be determined."""
    values = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    unknown = False
    for value in values:
        if isinstance(value, str) and "${" not in value:
            out.append(value)
            continue
        text = str(value) + " " + context
        names = _VAR_RE.findall(text)
        out.extend(re.findall(r"[0-9a-fA-F:.]+/\d{1,3}", text))
        for var in names:
            default = mod.variables.get(var)
            if isinstance(default, str):
                out.append(default)
            elif isinstance(default, list):
                out.extend(str(v) for v in default)
        if not names and not re.findall(r"[0-9a-fA-F:.]+/\d{1,3}", text):
            unknown = True
    return out, unknown


def _rule_exposes_admin(mod: TerraformModule, rule: dict[str, Any], proto_key: str) -> list[int]:
    protocol = str(mod.resolve(rule.get(proto_key, "tcp"))).lower()
    if protocol in ("-1", "all"):
        return list(ADMIN_PORTS)
    if protocol not in ("tcp", "6"):
        return []
    low, high = (
        _to_int(mod.resolve(rule.get("from_port"))),
        _to_int(mod.resolve(rule.get("to_port"))),
    )
    if low is None or high is None:
        return list(ADMIN_PORTS)  # unknown range: assume the worst
    return [p for p in ADMIN_PORTS if low <= p <= high]


def _check_ingress(mod: TerraformModule) -> Iterator[Violation]:
    for file, rtype, name, body in mod.typed("resource"):
        line = _block_line(mod, file, "resource", rtype, name)
        rules: list[tuple[dict[str, Any], str, str]] = []
        if rtype == "aws_security_group":
            rules += [(r, "protocol", "") for r in body.get("ingress", []) if isinstance(r, dict)]
            for dyn in body.get("dynamic", []):
                for label, spec in dyn.items():
                    if label == "ingress":
                        for content in spec.get("content", []):
                            rules.append((content, "protocol", str(spec.get("for_each", ""))))
        elif rtype == "aws_security_group_rule" and mod.resolve(body.get("type")) == "ingress":
            rules.append((body, "protocol", ""))
        elif rtype == "aws_vpc_security_group_ingress_rule":
            rule = dict(body)
            rule["cidr_blocks"] = [body.get("cidr_ipv4"), body.get("cidr_ipv6")]
            rule["cidr_blocks"] = [c for c in rule["cidr_blocks"] if c is not None]
            rules.append((rule, "ip_protocol", ""))
        for rule, proto_key, context in rules:
            ports = _rule_exposes_admin(mod, rule, proto_key)
            if not ports:
                continue
            cidrs: list[str] = []
            unknown = False
            for key in ("cidr_blocks", "ipv6_cidr_blocks"):
                if key in rule:
                    found, missing = _cidr_candidates(mod, rule[key], context)
                    cidrs += found
                    unknown = unknown or missing
            if any(is_world_cidr(c) for c in cidrs) or unknown:
                services = "/".join(f"{ADMIN_PORTS[p]}({p})" for p in ports)
                why = (
                    "is open to the whole internet"
                    if not unknown
                    else "may be open to any address (CIDR not resolvable)"
                )
                yield Violation(
                    "admin-port-open-to-world",
                    file,
                    line,
                    f"{rtype}.{name}: ingress covering {services} {why}; "
                    "restrict it to an operator CIDR or remove it",
                )


def _check_imds(mod: TerraformModule) -> Iterator[Violation]:
    for file, rtype, name, body in mod.typed("resource"):
        if rtype not in ("aws_instance", "aws_launch_template"):
            continue
        tokens = mod.resolve(_first(body.get("metadata_options")).get("http_tokens"))
        if tokens != "required":
            yield Violation(
                "imdsv2-required",
                file,
                _block_line(mod, file, "resource", rtype, name),
                f'{rtype}.{name} must set metadata_options {{ http_tokens = "required" }} (IMDSv2)',
            )


def _mentions_job(mod: TerraformModule, value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value
    if isinstance(value, str):
        if re.search(rf'["{{,\s]{re.escape(key)}"?\s*=', value):
            return True
        return any(
            _mentions_job(mod, mod.locals.get(name), key) for name in _LOCAL_RE.findall(value)
        )
    return False


def _check_tags(mod: TerraformModule) -> Iterator[Violation]:
    default_tagged = False
    for _, name, body in mod.blocks("provider"):
        if name == "aws":
            default_tagged = default_tagged or _mentions_job(
                mod, _first(body.get("default_tags")).get("tags"), JOB_TAG
            )
    for file, rtype, name, body in mod.typed("resource"):
        line = _block_line(mod, file, "resource", rtype, name)
        if (
            rtype in TAGGABLE_RESOURCE_TYPES
            and not default_tagged
            and not _mentions_job(mod, body.get("tags"), JOB_TAG)
        ):
            yield Violation(
                "missing-job-id-tag",
                file,
                line,
                f"{rtype}.{name} has no {JOB_TAG!r} tag and the aws provider has no default_tags "
                f"with it; add tags = {{ {JOB_TAG} = var.job_id }}",
            )
        if rtype.startswith("kubernetes_") and "metadata" in body:
            labels = _first(body.get("metadata")).get("labels")
            if not _mentions_job(mod, labels, JOB_LABEL):
                yield Violation(
                    "missing-job-id-tag",
                    file,
                    line,
                    f"{rtype}.{name} has no {JOB_LABEL!r} label; add it to metadata.labels",
                )


def check_terraform_policy(files: Mapping[str, str]) -> list[Violation]:
    """Parse every ``.tf`` file and return each policy breach (empty list = allowed)."""
    modules, violations = load_modules(files)
    for mod in modules:
        for check in (
            _check_providers,
            _check_provider_sources,
            _check_functions,
            _check_outputs,
            _check_types,
            _check_regions,
            _check_instance_types,
            _check_ingress,
            _check_imds,
            _check_tags,
        ):
            violations.extend(check(mod))
    if violations:
        logger.info("terraform policy refused %d item(s)", len(violations))
    return violations
