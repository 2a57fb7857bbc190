"""Ruby apps: Rails, Sinatra, plain Rack."""

from __future__ import annotations

import re

from shared.analysis import Evidence

from ._common import VERSION, add_common, find_first, scan_env, services_from_deps, valid_port
from ._model import AppContext, AppFinding, BindHit, PortHit, evidence_at

__all__ = ["MARKERS", "detect"]

MARKERS = ("Gemfile", "config.ru")
_SERVICES = {
    "pg": "postgres",
    "mysql2": "mysql",
    "redis": "redis",
    "mongoid": "mongodb",
    "bunny": "rabbitmq",
    "sidekiq": "redis",
    "dalli": "memcached",
}
_ENV = [
    (
        re.compile(
            r"""ENV\[\s*["'](?P<name>[A-Za-z_]\w*)["']\s*\](?:\s*\|\|\s*(?P<default>"[^"\n]*"|'[^'\n]*'|\d+))?"""
        ),
        False,
    ),
    (
        re.compile(
            r"""ENV\.fetch\(\s*["'](?P<name>[A-Za-z_]\w*)["']\s*(?:,\s*(?P<default>[^)\n]*))?\)(?!\s*\{)"""
        ),
        False,
    ),
    (
        re.compile(
            r"""ENV\.fetch\(\s*["'](?P<name>[A-Za-z_]\w*)["']\s*\)\s*\{\s*(?P<default>[^}\n]*)\}"""
        ),
        True,
    ),
]
_PORT = [
    # `set :port, 8080`, `set :port, "8080"`, `set :port, ENV.fetch("PORT") { 8080 }`.
    re.compile(r"""set\s+:port\s*,\s*(?:ENV\.fetch\([^)]*\)\s*\{\s*)?["']?(?P<port>\d{2,5})\b"""),
    re.compile(r"""^\s*port\s+ENV\.fetch\(\s*["']PORT["']\s*\)\s*\{\s*(?P<port>\d{2,5})""", re.M),
    re.compile(r"""^\s*port\s+(?P<port>\d{2,5})""", re.M),
    re.compile(r"""(?:-p\s+|--port[= ]|Port:\s*)(?P<port>\d{2,5})"""),
]
_BIND = re.compile(
    r"""set\s+:bind\s*,\s*["'](?P<addr>[^"']+)["']|Host:\s*["'](?P<addr2>[^"']+)["']"""
)


def _gems(ctx: AppContext) -> dict[str, Evidence]:
    text = ctx.read("Gemfile") or ""
    return {
        m.group(1): evidence_at(ctx.rel("Gemfile"), text, m.start())
        for m in re.finditer(r"""^\s*gem\s+["']([\w\-]+)["']""", text, re.M)
    }


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a Ruby app in this folder."""
    if not (ctx.has("Gemfile") or ctx.has("config.ru")):
        return None
    gems = _gems(ctx)
    finding = AppFinding(root=ctx.root, language="ruby", package_manager="bundler")
    for name, pattern in (
        (".ruby-version", VERSION),
        ("Gemfile", r"""^ruby\s+["']~?>?\s*(\d+\.\d+(?:\.\d+)?)"""),
    ):
        rt = ctx.read(name)
        if rt and (m := re.search(pattern, rt, re.M)):
            finding.runtime_version = m.group(1)
            finding.runtime_evidence = evidence_at(ctx.rel(name), rt, m.start())
            break
    sources = ctx.sources(
        (".rb", ".ru"),
        priority=(
            "config.ru",
            "app.rb",
            "config/puma.rb",
            "config/routes.rb",
            "server.rb",
            "config/application.rb",
        ),
        limit=40,
    )
    finding.services.extend(services_from_deps(gems, _SERVICES))
    finding.env.extend(scan_env(sources, _ENV))
    add_common(ctx, finding, sources)
    routes = ctx.read("config/routes.rb")
    if routes and (m := re.search(r"""get\s+["']up["']""", routes)):
        finding.health.insert(
            0, ("/up", evidence_at(ctx.rel("config/routes.rb"), routes, m.start()))
        )

    if "rails" in gems or ctx.has("config/application.rb"):
        framework, port = "rails", 3000
        finding.build_command = "bundle exec rails assets:precompile"
        finding.start_command = "bundle exec rails server -b 0.0.0.0 -p {port}"
    elif "sinatra" in gems or find_first(re.compile(r"require\s+['\"]sinatra"), sources):
        framework, port = "sinatra", 4567
        app = next(
            (ctx.local(r) for r, t in sources if "sinatra" in t and r.endswith(".rb")), "app.rb"
        )
        finding.start_command = (
            "bundle exec rackup --host 0.0.0.0 -p {port}"
            if ctx.has("config.ru")
            else f"bundle exec ruby {app} -o 0.0.0.0 -p {{port}}"
        )
    elif ctx.has("config.ru"):
        framework, port = "rack", 9292
        finding.start_command = "bundle exec rackup --host 0.0.0.0 -p {port}"
    else:
        if "sidekiq" in gems:
            finding.non_service.append(
                f"found a Sidekiq worker ({gems['sidekiq'].file}:{gems['sidekiq'].line})"
            )
        gemspec = next((n for n in ctx.names if n.endswith(".gemspec")), None)
        if gemspec:
            finding.non_service.append(f"{ctx.rel(gemspec)} describes a Ruby gem (a library)")
        if not finding.non_service:
            finding.non_service.append(
                f"{ctx.rel('Gemfile')} lists no web framework (rails, sinatra, rack)"
            )
        return finding
    finding.framework = framework
    finding.kind = "server"
    ev = gems.get(framework) or Evidence(
        file=ctx.rel("config.ru" if ctx.has("config.ru") else "Gemfile")
    )
    finding.evidence.append(ev)
    finding.reasons.append(f"{framework} app ({ev.file}{f':{ev.line}' if ev.line else ''})")
    finding.default_port = port
    finding.default_port_reason = f"{framework} listens on {port} by default"
    finding.start_reason = f"{framework} apps start with `{finding.start_command}`"
    for port_re in _PORT:
        hit = find_first(port_re, sources)
        if hit is not None and (p := valid_port(hit[0].group("port"))):
            finding.ports.append(PortHit(p, "code", [hit[1]]))
            break
    if (b := find_first(_BIND, sources)) is not None:
        finding.binds.append(BindHit(b[0].group("addr") or b[0].group("addr2"), b[1]))
    return finding
