"""Helpers every ecosystem detector shares: env reads, secrets, health routes, services."""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.analysis import Evidence

from ._model import AppContext, AppFinding, EnvHit, ServiceHit, evidence_at

__all__ = [
    "DOTENV_FILES",
    "ENV_URL_SERVICES",
    "HEALTH_ROUTE",
    "VERSION",
    "add_common",
    "find_first",
    "hinted",
    "is_secret_name",
    "literal",
    "needle",
    "scan_dotenv",
    "scan_env",
    "scan_health",
    "services_from_deps",
    "services_from_env",
    "tool_version",
    "unquote",
    "valid_port",
]

DOTENV_FILES = (".env.example", ".env.sample", ".env.template", ".env.dist", "example.env")

_SECRET_TOKENS = frozenset(
    {
        "KEY",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "PASSWORD",
        "PASS",
        "PASSWD",
        "PWD",
        "CREDENTIAL",
        "CREDENTIALS",
        "PRIVATE",
        "APIKEY",
        "SALT",
        "DSN",
        "PASSPHRASE",
    }
)
# Connection URLs usually embed a password even when the code gives none as a default.
_SECRET_NAMES = frozenset({"DATABASE_URL", "DB_URL", "MONGO_URL", "MONGODB_URI", "MONGO_URI"})
_URL_WITH_PASSWORD = re.compile(r"://[^/:@\s]+:[^@\s]+@")

_NEEDLES: dict[re.Pattern[str], tuple[str, ...] | None] = {}
_ESCAPED_LITERALS = frozenset(".()[]{}*+?|^$/-\"'`:=")


def hinted(pattern: re.Pattern[str], *needles: str) -> re.Pattern[str]:
    """Declare literals one of which every match contains, where they cannot be derived."""
    _NEEDLES[pattern] = needles
    return pattern


HEALTH_ROUTE = hinted(
    re.compile(
        r"""["'`](/(?:api/)?(?:v\d/)?(?:healthz?|health-?check|_health|livez|readyz|ready|ping|up|status))["'`]"""
    ),
    "/health",
    "/_health",
    "/live",
    "/ready",
    "/ping",
    "/up",
    "/status",
)
_HEALTH_ORDER = (
    "/healthz",
    "/health",
    "/api/health",
    "/healthcheck",
    "/health-check",
    "/_health",
    "/livez",
    "/readyz",
    "/ping",
    "/ready",
    "/status",
    "/up",
)

ENV_URL_SERVICES: dict[str, str] = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "memcached": "memcached",
}
_ENV_NAME_SERVICES: dict[str, str] = {
    "REDIS_URL": "redis",
    "REDIS_HOST": "redis",
    "REDIS_URI": "redis",
    "MONGO_URL": "mongodb",
    "MONGO_URI": "mongodb",
    "MONGODB_URI": "mongodb",
    "MONGODB_URL": "mongodb",
    "RABBITMQ_URL": "rabbitmq",
    "AMQP_URL": "rabbitmq",
    "RABBITMQ_HOST": "rabbitmq",
    "POSTGRES_URL": "postgres",
    "POSTGRES_HOST": "postgres",
    # libpq's standard variables (Railway/Heroku-style settings read them by name).
    "PGHOST": "postgres",
    "PGPORT": "postgres",
    "PGUSER": "postgres",
    "PGPASSWORD": "postgres",
    "PGDATABASE": "postgres",
    "MYSQL_HOST": "mysql",
    "MYSQL_URL": "mysql",
    "MEMCACHED_URL": "memcached",
    "ELASTICSEARCH_URL": "elasticsearch",
}


def valid_port(value: str | int) -> int | None:
    """The port as an int when it is a usable TCP port."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 1 <= port <= 65535 else None


def unquote(value: str) -> str:
    """Strip one pair of matching quotes."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1]
    return value


def is_secret_name(name: str, default: str | None = None) -> bool:
    """True for names (or defaults) that look like they hold a credential."""
    upper = name.upper()
    if upper in _SECRET_NAMES:
        return True
    if any(tok in _SECRET_TOKENS for tok in re.split(r"[_\-.]+", upper)):
        return True
    if upper.endswith(("APIKEY", "SECRET", "TOKEN", "PASSWORD")):
        return True
    return bool(default and _URL_WITH_PASSWORD.search(default))


def needle(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Literals one of which every match must contain, used to skip files cheaply.

    Regex search over a large file costs far more than a substring test, and most source
    files contain none of the markers a detector looks for.
    """
    if pattern in _NEEDLES:
        return _NEEDLES[pattern]
    found: tuple[str, ...] | None = None
    if not (pattern.flags & re.IGNORECASE):
        picks: list[str] = []
        for alternative in _top_level_alternatives(pattern.pattern):
            best = max(_literal_runs(alternative), key=len, default="")
            if len(best) < 3:
                picks = []
                break
            picks.append(best)
        found = tuple(picks) or None
    _NEEDLES[pattern] = found
    return found


def _top_level_alternatives(src: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = src.find("]", i + 2) + 1 or len(src)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(src[start:i])
            start = i + 1
        i += 1
    parts.append(src[start:])
    return parts


def _contains(text: str, needles: tuple[str, ...] | None) -> bool:
    return needles is None or any(n in text for n in needles)


def _literal_runs(src: str) -> list[str]:
    """Literal runs outside groups of one alternative."""
    runs: list[str] = []
    run: list[str] = []
    depth = 0
    i = 0

    def cut() -> None:
        runs.append("".join(run))
        run.clear()

    while i < len(src):
        c = src[i]
        if c == "\\" and i + 1 < len(src):
            nxt = src[i + 1]
            if (
                depth == 0
                and nxt in _ESCAPED_LITERALS
                and src[i + 2 : i + 3] not in ("?", "*", "{")
            ):
                run.append(nxt)
            else:
                cut()
            i += 2
            continue
        if c == "[":
            cut()
            i = src.find("]", i + 2) + 1 or len(src)  # a class never starts with ']' here
            continue
        if c == "(":
            cut()
            depth += 1
        elif c == ")":
            depth -= 1
            cut()
        elif depth > 0:
            pass
        elif c in "?*":
            if run:
                run.pop()
            cut()
        elif c == "{":
            if run:
                run.pop()
            cut()
            i = src.find("}", i) + 1 or len(src)
            continue
        elif c in "+.^$":
            cut()
        else:
            run.append(c)
        i += 1
    cut()
    return runs


def find_first(
    pattern: re.Pattern[str], sources: Iterable[tuple[str, str]]
) -> tuple[re.Match[str], Evidence] | None:
    """First match of a pattern across (file, text) pairs, with its evidence."""
    must = needle(pattern)
    for rel, text in sources:
        if not _contains(text, must):
            continue
        m = pattern.search(text)
        if m:
            return m, evidence_at(rel, text, m.start())
    return None


_LITERAL = re.compile(
    r"""^\s*(?:"([^"\n]*)"|'([^'\n]*)'|`([^`\n]*)`|(-?\d+(?:\.\d+)?|true|false|True|False))"""
)


def literal(text: str | None) -> str | None:
    """The value of a simple literal (string, number, boolean), else None."""
    if not text:
        return None
    m = _LITERAL.match(text)
    if not m:
        return None
    return next(g for g in m.groups() if g is not None)


def scan_env(
    sources: Iterable[tuple[str, str]],
    patterns: Iterable[tuple[re.Pattern[str], bool]],
) -> list[EnvHit]:
    """Env reads from source text; a pattern's 'default' group, when present, is the fallback.

    Each pattern has a 'name' group and optionally a 'default' group; the flag says whether
    a read by this pattern always has a fallback (e.g. `ENV.fetch("X") { ... }`).
    """
    pats = list(patterns)
    hits: list[EnvHit] = []
    for rel, text in sources:
        for pattern, always_default in pats:
            if not _contains(text, needle(pattern)):
                continue
            for m in pattern.finditer(text):
                name = m.group("name")
                raw = m.groupdict().get("default")
                has_default = always_default or raw is not None
                hits.append(
                    EnvHit(
                        name=name,
                        default=literal(raw),
                        has_default=has_default,
                        evidence=evidence_at(rel, text, m.start()),
                    )
                )
    return hits


# The value is taken to the end of the line and stripped in Python: `(.*?)[ \t]*$` tried
# every split of a long line of blanks (quadratic; minutes for a 256 KiB line).
_DOTENV_LINE = re.compile(
    r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$", re.M
)
# A version number x.y[.z]. The lookbehind starts a match only where a run of digits
# starts: without it a long run of digits is retried from each of its digits (quadratic).
VERSION = r"(?<!\d)(\d+\.\d+(?:\.\d+)?)"


def scan_dotenv(ctx: AppContext) -> list[EnvHit]:
    """Entries of .env.example-style files: the names the authors say must be set."""
    hits: list[EnvHit] = []
    for name in DOTENV_FILES:
        text = ctx.read(name)
        if text is None:
            continue
        rel = ctx.rel(name)
        for m in _DOTENV_LINE.finditer(text):
            value = unquote(m.group(2).rstrip(" \t").split(" #", 1)[0])
            key = m.group(1)
            # Example files carry placeholders; never turn a secret's placeholder into a default.
            default = value if value and not is_secret_name(key, value) else None
            hits.append(
                EnvHit(
                    name=key,
                    default=default,
                    has_default=bool(value),
                    evidence=evidence_at(rel, text, m.start(1)),
                )
            )
    return hits


def scan_health(sources: Iterable[tuple[str, str]]) -> list[tuple[str, Evidence]]:
    """Health-looking routes in code, best-known names first."""
    found: dict[str, Evidence] = {}
    for rel, text in sources:
        for m in HEALTH_ROUTE.finditer(text):
            found.setdefault(m.group(1), evidence_at(rel, text, m.start(1)))
    order = {p: i for i, p in enumerate(_HEALTH_ORDER)}
    return sorted(found.items(), key=lambda kv: order.get(kv[0].removeprefix("/api"), 99))


def services_from_deps(deps: dict[str, Evidence], table: dict[str, str]) -> list[ServiceHit]:
    """Backing services implied by driver packages."""
    return [ServiceHit(kind=table[d], evidence=ev) for d, ev in deps.items() if d in table]


def services_from_env(hits: Iterable[EnvHit]) -> list[ServiceHit]:
    """Backing services implied by env names and URL defaults (DATABASE_URL=postgres://…)."""
    out: list[ServiceHit] = []
    for hit in hits:
        kind: str | None = None
        if hit.default and "://" in hit.default:
            kind = ENV_URL_SERVICES.get(hit.default.split("://", 1)[0].lower())
        if kind is None:
            kind = _ENV_NAME_SERVICES.get(hit.name.upper())
        if kind is not None:
            out.append(ServiceHit(kind=kind, evidence=hit.evidence))
    return out


def add_common(ctx: AppContext, finding: AppFinding, sources: list[tuple[str, str]]) -> None:
    """Fill what every ecosystem finds the same way: .env examples, health routes, services."""
    finding.env.extend(scan_dotenv(ctx))
    finding.health.extend(scan_health(sources))
    finding.services.extend(services_from_env(finding.env))


def tool_version(ctx: AppContext, tool: str) -> tuple[str, Evidence] | None:
    """The version asdf/mise's ``.tool-versions`` pins for ``tool`` (a line "python 3.13.1")."""
    text = ctx.read(".tool-versions")
    m = re.search(rf"^{re.escape(tool)}\s+(\d+(?:\.\d+)*)", text or "", re.MULTILINE)
    if text is None or m is None:
        return None
    return m.group(1), evidence_at(ctx.rel(".tool-versions"), text, m.start())
