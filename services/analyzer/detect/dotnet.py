"""ASP.NET Core apps (*.csproj with the Web SDK)."""

from __future__ import annotations

import re

from ._common import add_common, find_first, scan_env, valid_port
from ._model import AppContext, AppFinding, BindHit, PortHit, ServiceHit, evidence_at

__all__ = ["detect"]

_URL = re.compile(r"""(?P<scheme>https?)://(?P<host>[\w.\-*+\[\]:]+?):(?P<port>\d{2,5})""")
_URL_SITES = re.compile(
    r"""(?:UseUrls|\.Run|ASPNETCORE_URLS|"Url")\s*[(:=,]?\s*\(?\s*["']?https?://[^"'\s)]+"""
)
_ENV = [
    (
        re.compile(r"""Environment\.GetEnvironmentVariable\(\s*"(?P<name>[A-Za-z_]\w*)"\s*\)"""),
        False,
    )
]
_SERVICES = {
    "Npgsql": "postgres",
    "Pomelo.EntityFrameworkCore.MySql": "mysql",
    "MySql.Data": "mysql",
    "StackExchange.Redis": "redis",
    "MongoDB.Driver": "mongodb",
    "RabbitMQ.Client": "rabbitmq",
}


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect an ASP.NET Core app in this folder."""
    proj = next((n for n in ctx.names if n.endswith(".csproj")), None)
    if proj is None:
        return None
    text = ctx.read(proj) or ""
    finding = AppFinding(root=ctx.root, language="dotnet", package_manager="dotnet")
    if m := re.search(r"<TargetFramework>net(?:coreapp)?(\d+\.\d+)</TargetFramework>", text):
        finding.runtime_version = m.group(1)
        finding.runtime_evidence = evidence_at(ctx.rel(proj), text, m.start())
    for key, kind in _SERVICES.items():
        if key in text:
            finding.services.append(
                ServiceHit(kind, evidence_at(ctx.rel(proj), text, text.find(key)))
            )
    sources = ctx.sources((".cs",), priority=("Program.cs", "Startup.cs"), limit=30)
    finding.env.extend(scan_env(sources, _ENV))
    add_common(ctx, finding, sources)
    if 'Sdk="Microsoft.NET.Sdk.Web"' not in text:
        finding.non_service.append(f"{ctx.rel(proj)} builds a .NET program without the Web SDK")
        return finding
    finding.framework = "aspnetcore"
    finding.kind = "server"
    finding.evidence.append(evidence_at(ctx.rel(proj), text, text.find("Microsoft.NET.Sdk.Web")))
    finding.reasons.append(f"{ctx.rel(proj)} uses Microsoft.NET.Sdk.Web")
    major = int(finding.runtime_version.split(".")[0]) if finding.runtime_version else 8
    finding.default_port = 8080 if major >= 8 else 80
    finding.default_port_reason = (
        "ASP.NET Core container images listen on 8080 since .NET 8"
        if major >= 8
        else "ASP.NET Core container images before .NET 8 listen on 80"
    )
    configs = list(sources)
    if (cfg := ctx.read("appsettings.json")) is not None:
        configs.insert(0, (ctx.rel("appsettings.json"), cfg))
    hit = find_first(_URL_SITES, configs)
    if hit is not None:
        url = _URL.search(hit[0].group(0))
        if url and (port := valid_port(url.group("port"))):
            finding.ports.append(PortHit(port, "code", [hit[1]]))
            host = url.group("host")
            finding.binds.append(BindHit("0.0.0.0" if host in ("*", "+", "[::]") else host, hit[1]))
    assembly = re.search(r"<AssemblyName>([^<]+)</AssemblyName>", text)
    name = assembly.group(1) if assembly else proj.removesuffix(".csproj")
    finding.build_command = "dotnet publish -c Release -o out"
    finding.start_command = f"dotnet out/{name}.dll"
    finding.start_reason = f"{proj} publishes {name}.dll"
    return finding
