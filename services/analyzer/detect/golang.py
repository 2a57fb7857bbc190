"""Go apps: net/http, gin, echo, chi, fiber, gorilla/mux."""

from __future__ import annotations

import re

from shared.analysis import Evidence

from ._common import add_common, find_first, hinted, scan_env, services_from_deps, valid_port
from ._model import AppContext, AppFinding, BindHit, EnvHit, PortHit, evidence_at

__all__ = ["MARKERS", "detect"]

MARKERS = ("go.mod",)
_MODULES = [
    ("github.com/gin-gonic/gin", "gin"),
    ("github.com/labstack/echo", "echo"),
    ("github.com/go-chi/chi", "chi"),
    ("github.com/gofiber/fiber", "fiber"),
    ("github.com/gorilla/mux", "gorilla"),
]
# Routers only: they plug into net/http's server and start none of their own, so the app's
# server (what a person would call its stack) is net/http.
_ROUTERS = frozenset({"chi", "gorilla"})
_SERVICES = {
    "github.com/lib/pq": "postgres",
    "github.com/jackc/pgx": "postgres",
    "github.com/go-sql-driver/mysql": "mysql",
    "github.com/redis/go-redis": "redis",
    "github.com/go-redis/redis": "redis",
    "github.com/gomodule/redigo": "redis",
    "go.mongodb.org/mongo-driver": "mongodb",
    "github.com/streadway/amqp": "rabbitmq",
    "github.com/rabbitmq/amqp091-go": "rabbitmq",
}
_LISTEN = hinted(
    re.compile(
        r"""(?:ListenAndServe(?:TLS)?|\.Run|\.Start|\.Listen|Addr\s*:)\s*\(?\s*"(?P<host>[\w.\-\[\]:]*?):(?P<port>\d{2,5})\""""
    ),
    "Listen",
    ".Run",
    ".Start",
    "Addr",
)
_PORT_FALLBACK = re.compile(r"""(?:port|PORT|addr)\s*=\s*"(?::)?(?P<port>\d{2,5})\"""")
_SERVES = re.compile(r"\bhttp\.ListenAndServe(?:TLS)?\s*\(|\.ListenAndServe(?:TLS)?\s*\(")
# gin, echo and fiber own their server: `r.Run(...)`, `e.Start(...)`, `app.Listen(...)`. Only
# with one of them in go.mod: any other `x.Start()` (a library's own server) is not the app's.
_SERVES_FRAMEWORK = re.compile(r"\b\w+\.(?:Run|Start|Listen)\s*\(")
_OWN_SERVER = frozenset({"gin", "echo", "fiber"})
_ENV = [
    (re.compile(r"""os\.Getenv\(\s*"(?P<name>[A-Za-z_]\w*)"\s*\)"""), False),
    (re.compile(r"""os\.LookupEnv\(\s*"(?P<name>[A-Za-z_]\w*)"\s*\)"""), False),
    # Go 1.22's idiom for a fallback: cmp.Or(os.Getenv("PORT"), "8080").
    (
        re.compile(
            r"""cmp\.Or\(\s*os\.Getenv\(\s*"(?P<name>[A-Za-z_]\w*)"\s*\)\s*,\s*(?P<default>"[^"\n]*")"""
        ),
        True,
    ),
]
# A helper that reads the port with a fallback, called with that fallback: EnvPortOr("3000").
_PORT_CALL = re.compile(r"""\b\w*[Pp]ort\w*\(\s*"(?::)?(?P<port>\d{2,5})"\s*\)""")
_FALLBACK_AFTER = re.compile(r"""==\s*""\s*\{\s*\w+\s*=\s*"(?P<value>[^"]*)\"""")


def _with_go_defaults(hits: list[EnvHit], sources: dict[str, str]) -> list[EnvHit]:
    # Go has no default argument; the idiom is `if v == "" { v = "x" }` right after the read.
    for hit in hits:
        text = sources.get(hit.evidence.file, "")
        line_start = 0
        for _ in range((hit.evidence.line or 1) - 1):
            line_start = text.find("\n", line_start) + 1
        m = _FALLBACK_AFTER.search(text, line_start, line_start + 200)
        if m:
            hit.default, hit.has_default = m.group("value"), True
    return hits


def detect(ctx: AppContext) -> AppFinding | None:
    """Detect a Go app in this folder."""
    gomod = ctx.read("go.mod")
    if gomod is None:
        return None
    finding = AppFinding(root=ctx.root, language="go", package_manager="go")
    if m := re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)", gomod, re.M):
        finding.runtime_version = m.group(1)
        finding.runtime_evidence = evidence_at(ctx.rel("go.mod"), gomod, m.start())
    deps: dict[str, Evidence] = {}
    for m in re.finditer(r"^\s*(?:require\s+)?([\w.\-]+\.[\w]+/[\w.\-/]+)\s+v[^\n]*", gomod, re.M):
        if re.search(r"//\s*indirect\b", m.group(0)):
            continue  # a dependency of a dependency: gin's optional mongo codec is no database
        path = m.group(1)
        key = next(
            (k for k in (*_SERVICES, *(mod for mod, _ in _MODULES)) if path.startswith(k)), path
        )
        deps.setdefault(key, evidence_at(ctx.rel("go.mod"), gomod, m.start(1)))
    sources = ctx.sources((".go",), priority=("main.go", "server.go", "cmd"), limit=40)
    finding.services.extend(services_from_deps(deps, _SERVICES))
    finding.env.extend(_with_go_defaults(scan_env(sources, _ENV), dict(sources)))
    add_common(ctx, finding, sources)

    mains = [(rel, t) for rel, t in sources if re.search(r"^package main\b", t, re.M)]
    main_files = {rel for rel, _ in mains}
    others = [(rel, t) for rel, t in sources if rel not in main_files]
    framework = next((fw for mod, fw in _MODULES if mod in deps), None)
    # The server often starts in an internal package that main calls (internal/server).
    patterns = [_SERVES_FRAMEWORK, _SERVES] if framework in _OWN_SERVER else [_SERVES]
    serve = next(
        (
            hit
            for files in (mains, others if mains else [])
            for pattern in patterns
            if (hit := find_first(pattern, files)) is not None
        ),
        None,
    )
    if framework in _ROUTERS:
        finding.reasons.append(f"{framework} is a router on net/http's server")
        framework = "net/http"
    if framework is None and serve is not None and "net/http" in serve[0].string:
        framework = "net/http"
    if not mains or serve is None or framework is None:
        if not mains:
            finding.non_service.append(f"{ctx.rel('go.mod')} is a Go library (no `package main`)")
        elif "github.com/spf13/cobra" in gomod or "github.com/urfave/cli" in gomod:
            finding.non_service.append(f"found a CLI (cobra/urfave) in {mains[0][0]}")
        else:
            finding.non_service.append(f"{mains[0][0]} builds a program that starts no HTTP server")
        return finding
    finding.framework = framework
    finding.kind = "server"
    finding.evidence.append(serve[1])
    finding.reasons.append(f"{framework} server started in {serve[1].file}:{serve[1].line}")
    finding.default_port = 8080
    finding.default_port_reason = "Go web servers conventionally listen on 8080 (gin's default)"
    hit = find_first(_LISTEN, mains)
    if hit is not None and (port := valid_port(hit[0].group("port"))):
        finding.ports.append(PortHit(port, "code", [hit[1]]))
        host = hit[0].group("host")
        finding.binds.append(BindHit(host or "0.0.0.0", hit[1]))
    elif env_port := next(
        (h for h in finding.env if h.name == "PORT" and valid_port(h.default or "")), None
    ):
        finding.ports.append(PortHit(int(env_port.default or 0), "code", [env_port.evidence]))
    else:
        fb = find_first(_PORT_CALL, mains) or find_first(_PORT_FALLBACK, mains)
        if fb is not None and (port := valid_port(fb[0].group("port"))):
            finding.ports.append(PortHit(port, "code", [fb[1]]))
    main_rel = serve[1].file
    main_dir = ctx.local(main_rel).rpartition("/")[0]
    target = f"./{main_dir}" if main_dir else "."
    finding.build_command = f"go build -o server {target}"
    finding.start_command = "./server"
    finding.start_reason = f"the main package in {main_rel} is built into one binary"
    return finding
