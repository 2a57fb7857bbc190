"""Node apps: Express, Fastify, Koa, Hono, Nest, Next.js, Nuxt, SvelteKit, Remix, SPAs."""

from __future__ import annotations

import re
from typing import Any

from shared.analysis import Evidence

from ._common import (
    add_common,
    find_first,
    hinted,
    scan_env,
    services_from_deps,
    tool_version,
    valid_port,
)
from ._fs import load_json
from ._model import AppContext, AppFinding, AppKind, BindHit, PortHit, evidence_at

__all__ = ["MARKERS", "detect", "package_manager_for"]

MARKERS = ("package.json",)
_SUFFIXES = (".js", ".mjs", ".cjs", ".ts", ".mts")
_PRIORITY = (
    "server.js",
    "server.ts",
    "index.js",
    "index.ts",
    "app.js",
    "app.ts",
    "main.js",
    "main.ts",
    "src/server.js",
    "src/server.ts",
    "src/index.js",
    "src/index.ts",
    "src/app.js",
    "src/app.ts",
    "src/main.ts",
    "src/main.js",
    "server.mjs",
    "index.mjs",
    "app.mjs",
)
# Order matters: a meta-framework wins over the server library it embeds.
_FRAMEWORKS: list[tuple[str, str, AppKind, int]] = [
    ("next", "next", "ssr", 3000),
    ("nuxt", "nuxt", "ssr", 3000),
    ("@sveltejs/kit", "sveltekit", "ssr", 3000),
    ("@remix-run/node", "remix", "ssr", 3000),
    ("@remix-run/serve", "remix", "ssr", 3000),
    # @astrojs/node's standalone server: PORT, else astro.config's server.port (4321).
    ("@astrojs/node", "astro", "ssr", 4321),
    ("@nestjs/core", "nest", "server", 3000),
    ("express", "express", "server", 3000),
    ("fastify", "fastify", "server", 3000),
    ("koa", "koa", "server", 3000),
    ("hono", "hono", "server", 3000),
    ("@hapi/hapi", "hapi", "server", 3000),
    ("@angular/core", "angular", "spa", 80),
    ("react-scripts", "create-react-app", "spa", 80),
    ("@vue/cli-service", "vue", "spa", 80),
    ("astro", "astro", "spa", 80),
    ("vite", "vite", "spa", 80),
    ("svelte", "svelte", "spa", 80),
]
# A Vite app is named by the UI library it builds (the tool stays in the reasons); the
# generator's SPA recipe takes each of these names.
_VITE_UI = (
    ("react", "react"),
    ("vue", "vue"),
    ("preact", "preact"),
    ("solid-js", "solid"),
    ("svelte", "svelte"),
)
# A dependency that names a framework only with a build step beside it: a component library
# depends on svelte too, and an Astro app with a server adapter is no static site.
_NEEDS_BUILD_SCRIPT = frozenset({"svelte", "astro"})
_ASTRO_SERVER_ADAPTERS = (
    "@astrojs/node",
    "@astrojs/vercel",
    "@astrojs/netlify",
    "@astrojs/cloudflare",
)
# Where a build writes its files when its script names no folder.
_SPA_OUTPUT = {"create-react-app": "build"}
# Bounded: a script of many `vue-cli-service build` words must not be rescanned from each.
_VUE_DEST = re.compile(r"vue-cli-service\s+build\b[^&|;]{0,200}?--dest[= ](?P<dir>[\w./-]+)")
# Create React App's BUILD_PATH, set on the build script's command line.
_CRA_BUILD_PATH = re.compile(r"\bBUILD_PATH=(?P<q>[\"']?)(?P<dir>[\w./-]+)(?P=q)")
# Vite's `build: { outDir: "www" }` in its config file.
_VITE_OUT_DIR = re.compile(r"""\boutDir\s*:\s*(?P<q>["'`])(?P<dir>[\w./-]{1,200})(?P=q)""")
_VITE_CONFIGS = ("vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts")
_SERVICES = {
    "pg": "postgres",
    "postgres": "postgres",
    "pg-promise": "postgres",
    "mysql": "mysql",
    "mysql2": "mysql",
    "redis": "redis",
    "ioredis": "redis",
    "mongodb": "mongodb",
    "mongoose": "mongodb",
    "amqplib": "rabbitmq",
    "amqp-connection-manager": "rabbitmq",
    "memcached": "memcached",
    "@elastic/elasticsearch": "elasticsearch",
    "bull": "redis",
    "bullmq": "redis",
}
_NON_SERVICE_DEPS = {
    "commander": "a CLI (commander)",
    "yargs": "a CLI (yargs)",
    "@oclif/core": "a CLI (oclif)",
    "discord.js": "a Discord bot (discord.js)",
    "telegraf": "a Telegram bot (telegraf)",
    "node-telegram-bot-api": "a Telegram bot",
    "bullmq": "a queue worker (bullmq)",
}
_PORT_PATTERNS = [
    re.compile(r"process\.env\.PORT\s*(?:\|\||\?\?)\s*[\"']?(?P<port>\d{2,5})"),
    re.compile(r"Number\(\s*process\.env\.PORT\s*\)\s*(?:\|\||\?\?)\s*(?P<port>\d{2,5})"),
    re.compile(r"\.listen\(\s*(?P<port>\d{2,5})\b"),
    re.compile(r"\b(?:const|let|var)\s+(?:PORT|port)\s*(?::\s*number\s*)?=\s*(?P<port>\d{2,5})\b"),
    re.compile(r"\bport\s*:\s*(?P<port>\d{2,5})\b"),
]
_BIND_PATTERNS = [
    re.compile(r"""\.listen\(\s*[^,()]+,\s*(?P<q>["'])(?P<addr>[^"']+)(?P=q)"""),
    re.compile(r"""\bhost(?:name)?\s*:\s*(?P<q>["'])(?P<addr>[^"']+)(?P=q)"""),
    re.compile(r"""process\.env\.HOST\s*(?:\|\||\?\?)\s*(?P<q>["'])(?P<addr>[^"']+)(?P=q)"""),
]
_SERVER_CODE = hinted(
    re.compile(
        r"\b(?:http|https)\.createServer\s*\(|\.listen\(\s*(?:process\.env\.PORT|PORT|port|\d{2,5})"
    ),
    "createServer",
    ".listen(",
)
# Bun's built-in server (Bun.serve) needs no framework; on its own it is a plain Bun app.
_BUN_SERVE = hinted(re.compile(r"\bBun\.serve\s*\("), "Bun.serve")
_ENV_PATTERNS = [
    (
        re.compile(
            r"""process\.env\.(?P<name>[A-Za-z_]\w*)(?:\s*(?:\|\||\?\?)\s*(?P<default>"[^"\n]*"|'[^'\n]*'|`[^`\n]*`|\d+))?"""
        ),
        False,
    ),
    (re.compile(r"""process\.env\[\s*["'](?P<name>[A-Za-z_]\w*)["']\s*\]"""), False),
    (re.compile(r"""Bun\.env\.(?P<name>[A-Za-z_]\w*)"""), False),
]
_CLI_PORT = re.compile(r"(?:--port[= ]|-p\s+|PORT=)(?P<port>\d{2,5})\b")
_CLI_HOST = re.compile(r"(?:--host(?:name)?[= ]|-H\s+)(?P<addr>[\w.:]+)")


def package_manager_for(ctx: AppContext, pkg: dict[str, Any]) -> str:
    """npm, yarn, pnpm or bun, from lockfiles or the packageManager field."""
    field = pkg.get("packageManager")
    if isinstance(field, str) and field.split("@", 1)[0] in ("npm", "yarn", "pnpm", "bun"):
        return field.split("@", 1)[0]
    for lock, pm in (
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
        ("bun.lockb", "bun"),
        ("bun.lock", "bun"),
        ("package-lock.json", "npm"),
    ):
        if ctx.has(lock):
            return pm
    return "npm"


def _run(pm: str, script: str) -> str:
    if script == "start":
        return "bun run start" if pm == "bun" else f"{pm} start"
    return f"{pm} run {script}" if pm in ("npm", "bun") else f"{pm} {script}"


def _dep_evidence(ctx: AppContext, text: str, name: str) -> Evidence:
    idx = text.find(f'"{name}"')
    return evidence_at(ctx.rel("package.json"), text, max(idx, 0))


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a Node app in this folder."""
    text = ctx.read("package.json")
    if text is None:
        return None
    pkg = load_json(text, source=ctx.rel("package.json"))
    if not isinstance(pkg, dict):
        return None
    if ctx.has("deno.json") or ctx.has("deno.jsonc"):
        return None  # deno.py owns folders with a Deno config
    finding = AppFinding(root=ctx.root, language="node")
    deps: dict[str, Evidence] = {}
    for section in ("dependencies", "devDependencies"):
        block = pkg.get(section)
        if isinstance(block, dict):
            for name in block:
                deps.setdefault(name, _dep_evidence(ctx, text, name))
    scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
    assert isinstance(scripts, dict)
    pm = package_manager_for(ctx, pkg)
    finding.package_manager = pm
    _runtime(ctx, finding, pkg, text)

    sources = ctx.sources(_SUFFIXES, priority=_PRIORITY, limit=40)
    finding.services.extend(services_from_deps(deps, _SERVICES))
    finding.env.extend(scan_env(sources, _ENV_PATTERNS))
    add_common(ctx, finding, sources)

    framework: str | None = None
    kind: AppKind = "none"
    default_port = 3000
    for dep, fw, fw_kind, port in _FRAMEWORKS:
        if dep in _NEEDS_BUILD_SCRIPT and not _builds_static(dep, deps, scripts):
            continue
        if dep == "@astrojs/node" and not _astro_standalone(ctx, deps):
            continue
        if dep in deps or (
            dep.startswith("@remix-run")
            and any(d.startswith("@remix-run/") for d in deps)
            and fw == "remix"
        ):
            framework, kind, default_port = fw, fw_kind, port
            finding.evidence.append(deps.get(dep) or _dep_evidence(ctx, text, dep))
            finding.reasons.append(f"{dep} is a dependency in {ctx.rel('package.json')}")
            break
    build_tool = framework
    if framework == "vite":
        ui = next(((dep, name) for dep, name in _VITE_UI if dep in deps), None)
        if ui is not None:
            framework = ui[1]
            finding.reasons.append(f"a {ui[0]} app built by vite")
    server_hit = find_first(_SERVER_CODE, sources)
    bun_hit = find_first(_BUN_SERVE, sources) if framework is None else None
    if bun_hit is not None:
        framework, kind, server_hit = "bun", "server", bun_hit
        finding.evidence.append(bun_hit[1])
        finding.reasons.append(
            f"Bun's HTTP server is started in {bun_hit[1].file}:{bun_hit[1].line}"
        )
    elif framework is None and server_hit is not None:
        framework, kind = "node-http", "server"
        finding.evidence.append(server_hit[1])
        finding.reasons.append(
            f"a Node HTTP server is started in {server_hit[1].file}:{server_hit[1].line}"
        )
    if (
        kind == "server"
        and framework in ("express", "fastify", "koa", "hono", "hapi")
        and server_hit is None
    ):
        if any(d in deps for d in _NON_SERVICE_DEPS) or "bin" in pkg:
            kind = "none"  # a library or CLI that merely depends on a server package
    # Slack Bolt serves HTTP unless it runs in socket mode.
    bolt = (
        find_first(re.compile(r"socketMode\s*:\s*true"), sources) if "@slack/bolt" in deps else None
    )
    if bolt is not None and kind == "none":
        finding.non_service.append(
            f"found a Slack bot in socket mode in {bolt[1].file}:{bolt[1].line}"
        )
    elif "@slack/bolt" in deps and framework is None:
        framework, kind, default_port = "slack-bolt", "server", 3000

    if kind == "none":
        _not_a_service(ctx, finding, pkg, deps, sources)
        return finding
    finding.framework = framework
    finding.kind = kind
    finding.default_port = default_port
    finding.default_port_reason = (
        f"{framework} listens on {default_port} by default"
        if kind != "spa"
        else f"{framework}'s build is static files, served on {default_port}"
    )
    if "build" in scripts:
        finding.build_command = _run(pm, "build")
    _code_ports(finding, sources)
    _start(ctx, finding, pkg, scripts, pm, sources, build_tool)
    return finding


def _code_ports(finding: AppFinding, sources: list[tuple[str, str]]) -> None:
    if finding.kind == "spa":
        return
    for pattern in _PORT_PATTERNS:
        hit = find_first(pattern, sources)
        if hit is not None and (port := valid_port(hit[0].group("port"))):
            finding.ports.append(PortHit(port, "code", [hit[1]]))
            break
    for pattern in _BIND_PATTERNS:
        hit = find_first(pattern, sources)
        if hit is not None:
            finding.binds.append(BindHit(hit[0].group("addr"), hit[1]))
            break


def _start(
    ctx: AppContext,
    finding: AppFinding,
    pkg: dict[str, Any],
    scripts: dict[str, Any],
    pm: str,
    sources: list[tuple[str, str]],
    build_tool: str | None,
) -> None:
    fw = finding.framework
    text = ctx.read("package.json") or ""
    if finding.kind == "spa":
        finding.static_dir = _spa_output(ctx, build_tool, scripts)
        if fw == "angular":
            name = pkg.get("name") if isinstance(pkg.get("name"), str) else None
            finding.static_dir = f"dist/{name}/browser" if name else "dist"
        finding.start_reason = f"{fw} builds to static files in {finding.static_dir}/"
        return
    start = scripts.get("start")
    if (
        fw == "astro"
        and isinstance(start, str)
        and re.match(r"\s*astro\s+(?:dev|preview)\b", start)
    ):
        # Astro's dev server (or its preview of the build), not the adapter's server.
        start = None
    if isinstance(start, str) and start.strip():
        ev = evidence_at(ctx.rel("package.json"), text, text.find('"start"'))
        finding.start_command = _run(pm, "start")
        finding.start_reason = f"package.json has a start script: {start}"
        if (m := _CLI_PORT.search(start)) and (port := valid_port(m.group("port"))):
            finding.ports.append(PortHit(port, "cli", [ev]))
        if m := _CLI_HOST.search(start):
            finding.binds.append(BindHit(m.group("addr"), ev))
        return
    if fw == "next":
        finding.start_command = "npx next start -p {port}"
    elif fw == "sveltekit":
        finding.start_command = "node build"
    elif fw == "nuxt":
        finding.start_command = "node .output/server/index.mjs"
    elif fw == "remix":
        finding.start_command = "npx remix-serve build/index.js"
    elif fw == "astro":
        finding.start_command = "node ./dist/server/entry.mjs"
    elif fw == "nest":
        finding.start_command = "node dist/main.js"
    else:
        main = pkg.get("main") if isinstance(pkg.get("main"), str) else None
        server_file = next(
            (
                rel
                for rel, t in sources
                if _SERVER_CODE.search(t) and rel.endswith((".js", ".mjs", ".cjs"))
            ),
            None,
        )
        entry = ctx.local(server_file) if server_file else main
        if entry:
            finding.start_command = f"node {entry}"
    if finding.start_command:
        finding.start_reason = f"no start script; {fw} apps start with `{finding.start_command}`"


_ASTRO_CONFIGS = ("astro.config.mjs", "astro.config.js", "astro.config.ts", "astro.config.mts")
_ASTRO_MIDDLEWARE = re.compile(r"""\bmode\s*:\s*["']middleware["']""")


def _astro_standalone(ctx: AppContext, deps: dict[str, Evidence]) -> bool:
    """An Astro app built with @astrojs/node as its own server: astro is a dependency and
    the adapter is not in `middleware` mode (whose entry only exports a handler)."""
    if "astro" not in deps:
        return False
    config = next((t for n in _ASTRO_CONFIGS if (t := ctx.read(n)) is not None), None)
    return config is None or not _ASTRO_MIDDLEWARE.search(config)


def _builds_static(dep: str, deps: dict[str, Evidence], scripts: dict[str, Any]) -> bool:
    """A svelte or astro dependency is a static site's only with a build script, and never
    in an Astro app with a server adapter (whose Svelte islands are not the site either)."""
    if dep not in deps or not isinstance(scripts.get("build"), str):
        return False
    return "astro" not in deps or not any(a in deps for a in _ASTRO_SERVER_ADAPTERS)


def _spa_output(ctx: AppContext, fw: str | None, scripts: dict[str, Any]) -> str:
    """The folder a static build writes: Vue CLI's `--dest`, the Svelte template's public/
    (its index.html sits there beside the bundle), else the toolchain's default."""
    build = scripts.get("build") if isinstance(scripts.get("build"), str) else ""
    assert isinstance(build, str)
    out = _SPA_OUTPUT.get(fw or "", "dist")
    if fw == "vue" and (m := _VUE_DEST.search(build)):
        out = m.group("dir")
    elif fw == "svelte" and ctx.has("public/index.html"):
        out = "public"
    elif fw == "create-react-app" and (m := _CRA_BUILD_PATH.search(build)):
        out = m.group("dir")
    elif fw == "vite":
        config = next((t for n in _VITE_CONFIGS if (t := ctx.read(n)) is not None), "")
        if m := _VITE_OUT_DIR.search(config):
            out = m.group("dir")
    out = _folder(out) or "dist"
    # `react-scripts build && mv build _site`: the script itself moves what it built.
    moved = re.search(
        rf"(?:\bmv|\bcp\s+-[rRa]+)\s+(?:\./)?{re.escape(out)}/?\s+(?P<dir>[\w./-]+)", build
    )
    return (_folder(moved.group("dir")) if moved else None) or out


def _folder(path: str) -> str:
    """``./www/`` -> ``www``: a folder named by a script, relative to the app; empty when
    it leaves the app's folder (a build into a sibling server's public/ is not served here)."""
    folder = path.removeprefix("./").rstrip("/")
    return "" if folder.startswith("/") or ".." in folder.split("/") else folder


def _not_a_service(
    ctx: AppContext,
    finding: AppFinding,
    pkg: dict[str, Any],
    deps: dict[str, Evidence],
    sources: list[tuple[str, str]],
) -> None:
    if "bin" in pkg:
        finding.non_service.append(f"{ctx.rel('package.json')} declares a CLI (`bin`)")
    for dep, what in _NON_SERVICE_DEPS.items():
        if dep in deps:
            ev = deps[dep]
            finding.non_service.append(f"found {what} in {ev.file}:{ev.line}")
    worker = find_first(re.compile(r"\bnew Worker\s*\(|\.consume\s*\("), sources)
    if worker is not None:
        finding.non_service.append(f"found a queue consumer in {worker[1].file}:{worker[1].line}")
    if not finding.non_service:
        main = pkg.get("main")
        what = f"a library (main: {main})" if isinstance(main, str) else "a package"
        finding.non_service.append(
            f"{ctx.rel('package.json')} describes {what} with no web framework or server"
        )


# `.nvmrc` may name an LTS line by its codename (`lts/iron`); these are the even majors.
_LTS_CODENAMES = {"hydrogen": "18", "iron": "20", "jod": "22", "krypton": "24"}


def _runtime(ctx: AppContext, finding: AppFinding, pkg: dict[str, Any], text: str) -> None:
    """The Node version the repository declares, with the file and line it came from.

    package.json's engines.node, then Volta's pin, then .nvmrc/.node-version (a version
    or an `lts/<codename>`), then asdf/mise's .tool-versions ("nodejs 22.1.0").
    """
    number = re.compile(r"\d+(?:\.\d+)*")
    for section, key in (("engines", "node"), ("volta", "node")):
        block = pkg.get(section)
        value = block.get(key) if isinstance(block, dict) else None
        if isinstance(value, str) and (m := number.search(value)):
            finding.runtime_version = m.group(0)
            finding.runtime_evidence = evidence_at(
                ctx.rel("package.json"), text, text.find(f'"{section}"')
            )
            return
    for name in (".nvmrc", ".node-version"):
        rt = ctx.read(name)
        if not rt:
            continue
        codename = re.search(r"lts/([a-z]+)", rt.lower())
        if codename and codename.group(1) in _LTS_CODENAMES:
            finding.runtime_version = _LTS_CODENAMES[codename.group(1)]
            finding.runtime_evidence = evidence_at(ctx.rel(name), rt, codename.start())
            return
        if m := number.search(rt):
            finding.runtime_version = m.group(0)
            finding.runtime_evidence = evidence_at(ctx.rel(name), rt, m.start())
            return
    if pinned := tool_version(ctx, "nodejs"):
        finding.runtime_version, finding.runtime_evidence = pinned
