"""Elixir Phoenix apps."""

from __future__ import annotations

import re

from ._common import add_common, find_first, scan_env, valid_port
from ._model import AppContext, AppFinding, BindHit, PortHit, ServiceHit, evidence_at

__all__ = ["MARKERS", "detect"]

MARKERS = ("mix.exs",)
_ENV = [
    (
        re.compile(
            r"""System\.get_env\(\s*"(?P<name>[A-Za-z_]\w*)"\s*(?:,\s*(?P<default>"[^"\n]*"))?\)(?:\s*\|\|\s*(?P<alt>"[^"\n]*"))?"""
        ),
        False,
    ),
    (re.compile(r"""System\.fetch_env!\(\s*"(?P<name>[A-Za-z_]\w*)"\s*\)"""), False),
    # Phoenix before 1.4 read env at boot from a tuple: `http: [port: {:system, "PORT"}]`.
    (re.compile(r"""\{:system,\s*"(?P<name>[A-Za-z_]\w*)"\s*\}"""), False),
]
# Only the endpoint's `http:` options say where it listens; `url: [port: 443]` is the public
# address a proxy in front serves, not a socket the app opens.
_PORT = re.compile(
    r"""\bhttp:\s*\[[^\]]*?\bport:\s*(?:String\.to_integer\(\s*System\.get_env\(\s*"PORT"\s*\)\s*\|\|\s*")?(?P<port>\d{2,5})"""
)
_IP = re.compile(r"ip:\s*\{\s*(?P<ip>\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+(?:\s*,\s*\d+){0,4})\s*\}")
_SERVICES = {
    "postgrex": "postgres",
    "myxql": "mysql",
    "redix": "redis",
    "mongodb_driver": "mongodb",
    "amqp": "rabbitmq",
}


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect an Elixir (Phoenix) app in this folder."""
    text = ctx.read("mix.exs")
    if text is None:
        return None
    finding = AppFinding(root=ctx.root, language="elixir", package_manager="mix")
    if m := re.search(r"""elixir:\s*"~>\s*(\d+\.\d+)""", text):
        finding.runtime_version = m.group(1)
        finding.runtime_evidence = evidence_at(ctx.rel("mix.exs"), text, m.start())
    for dep, kind in _SERVICES.items():
        if m := re.search(rf"\{{:{dep}\b", text):
            finding.services.append(
                ServiceHit(kind, evidence_at(ctx.rel("mix.exs"), text, m.start()))
            )
    configs = [
        (ctx.rel(p), t)
        for p in ("config/runtime.exs", "config/prod.exs", "config/config.exs")
        if (t := ctx.read(p)) is not None
    ]
    sources = configs + ctx.sources((".ex",), limit=30)
    finding.env.extend(scan_env(configs + sources, _ENV))
    add_common(ctx, finding, sources)
    m = re.search(r"\{:phoenix\b", text)
    if m is None:
        finding.non_service.append(f"{ctx.rel('mix.exs')} has no Phoenix dependency")
        return finding
    finding.framework = "phoenix"
    finding.kind = "server"
    finding.evidence.append(evidence_at(ctx.rel("mix.exs"), text, m.start()))
    finding.reasons.append(f"phoenix is a dependency in {ctx.rel('mix.exs')}")
    finding.default_port = 4000
    finding.default_port_reason = "Phoenix listens on 4000 by default"
    if (hit := find_first(_PORT, configs)) and (p := valid_port(hit[0].group("port"))):
        finding.ports.append(PortHit(p, "code", [hit[1]]))
    if hit := find_first(_IP, configs):
        parts = [x.strip() for x in hit[0].group("ip").split(",")]
        addr = ".".join(parts) if len(parts) == 4 else ("::" if set(parts) == {"0"} else "::1")
        finding.binds.append(BindHit(addr, hit[1]))
    finding.build_command = "mix deps.get --only prod && MIX_ENV=prod mix compile"
    finding.start_command = "mix phx.server"
    finding.start_reason = "Phoenix apps start with `mix phx.server`"
    return finding
