"""Deno apps (Deno.serve, Oak, Hono on Deno, Fresh)."""

from __future__ import annotations

import re

from ._common import add_common, find_first, scan_env, valid_port
from ._fs import load_json
from ._model import AppContext, AppFinding, BindHit, PortHit

__all__ = ["MARKERS", "detect"]

MARKERS = ("deno.json", "deno.jsonc")
_SERVE = re.compile(
    r"\bDeno\.serve\s*\(|\bDeno\.listen\s*\(|\bnew Application\s*\("
    r"|from\s+[\"'](?:jsr:@oak|https://deno\.land/x/oak)"
)
_PORT = re.compile(
    r"\bport\s*:\s*(?P<port>\d{2,5})\b|Deno\.env\.get\(\s*[\"']PORT[\"']\s*\)\s*\?\?\s*[\"']?(?P<port2>\d{2,5})"
)
_HOST = re.compile(r"""\bhostname\s*:\s*["'](?P<addr>[^"']+)["']""")
_ENV = [
    (
        re.compile(
            r"""Deno\.env\.get\(\s*["'](?P<name>[A-Za-z_]\w*)["']\s*\)(?:\s*\?\?\s*(?P<default>"[^"\n]*"|'[^'\n]*'|\d+))?"""
        ),
        False,
    )
]


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a Deno app in this folder."""
    config_name = next((m for m in MARKERS if ctx.has(m)), None)
    sources = ctx.sources(
        (".ts", ".tsx", ".js"), priority=("main.ts", "server.ts", "mod.ts", "main.tsx"), limit=30
    )
    serve = find_first(_SERVE, sources)
    if config_name is None and (serve is None or ctx.has("package.json")):
        return None
    finding = AppFinding(root=ctx.root, language="deno", package_manager="deno")
    finding.env.extend(scan_env(sources, _ENV))
    add_common(ctx, finding, sources)
    tasks: dict[str, object] = {}
    if config_name:
        text = ctx.read(config_name) or "{}"
        # deno.jsonc may carry comments; strip whole-line ones before parsing.
        cleaned = re.sub(r"^\s*//.*$", "", text, flags=re.M)
        cfg = load_json(cleaned, source=ctx.rel(config_name))
        if isinstance(cfg, dict) and isinstance(cfg.get("tasks"), dict):
            tasks = cfg["tasks"]
    if serve is None:
        finding.non_service.append(
            f"{ctx.rel(config_name or '.')} is a Deno project that starts no HTTP server"
        )
        return finding
    m, ev = serve
    text = m.string
    finding.framework = "hono" if "hono" in text else "oak" if "oak" in text else "deno"
    finding.kind = "server"
    finding.evidence.append(ev)
    finding.reasons.append(f"Deno HTTP server in {ev.file}:{ev.line}")
    finding.default_port = 8000
    finding.default_port_reason = "Deno.serve listens on 8000 by default"
    if (hit := find_first(_PORT, sources)) and (
        p := valid_port(hit[0].group("port") or hit[0].group("port2"))
    ):
        finding.ports.append(PortHit(p, "code", [hit[1]]))
    if hit := find_first(_HOST, sources):
        finding.binds.append(BindHit(hit[0].group("addr"), hit[1]))
    if "start" in tasks:
        finding.start_command = "deno task start"
        finding.start_reason = f"{config_name} defines a start task"
    else:
        finding.start_command = (
            f"deno run --allow-net --allow-env --allow-read {ctx.local(ev.file)}"
        )
        finding.start_reason = f"{ctx.local(ev.file)} starts the server"
    return finding
