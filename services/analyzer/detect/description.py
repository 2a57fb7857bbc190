"""Deterministic reading of the user's plain-language description."""

from __future__ import annotations

import re

from shared.analysis import DescriptionRequest, Target

from ._common import unquote, valid_port

__all__ = ["parse_description"]

_PORT = [
    re.compile(r"\bport\s*(?:is|=|:|of|number|to)?\s*:?\s*(\d{2,5})\b", re.I),
    re.compile(
        r"\b(?:listens?|listening|runs?|running|serves?|serving|served|exposed?|exposing)\s+on\s+"
        r"(?:port\s+)?:?(\d{2,5})\b",
        re.I,
    ),
    re.compile(r"(?:^|\s)on\s+:(\d{2,5})\b", re.I),
]
_ENV = re.compile(r"""\b([A-Z][A-Z0-9_]*)\s*=\s*("[^"]*"|'[^']*'|`[^`]*`|[^\s,;]+)""")
_ENV_SET_TO = re.compile(r"""\bset\s+([A-Z][A-Z0-9_]*)\s+to\s+("[^"]*"|'[^']*'|[^\s,;]+)""")
_TARGETS: list[tuple[Target, re.Pattern[str]]] = [
    ("aws-serverless", re.compile(r"\b(?:serverless|lambda|fargate|ecs|app runner)\b", re.I)),
    ("kubernetes", re.compile(r"\b(?:kubernetes|k8s|eks|helm|cluster)\b", re.I)),
    (
        "aws-ec2",
        re.compile(r"\b(?:ec2|an?\s+vm|vms?|virtual machine|virtual server|droplet)\b", re.I),
    ),
    (
        "local",
        re.compile(
            r"\b(?:locally|local docker|on my (?:machine|laptop)|localhost|local(?:ly)? only)\b",
            re.I,
        ),
    ),
]
_REGION = re.compile(
    r"\b((?:us|eu|ap|ca|sa|me|af|il|mx)(?:-gov)?-(?:north|south|east|west|central|northeast|"
    r"northwest|southeast|southwest)-\d)\b",
    re.I,
)
_SIZE = re.compile(
    r"\b([a-z]\d[a-z]{0,3}\.(?:nano|micro|small|medium|large|xlarge|\d{1,2}xlarge|metal))\b", re.I
)
# Plain words for a machine's size, mapped to the instance type the policy allows for them.
_MACHINE = r"\s+(?:machine|instance|server|vm|box)\b"
_SIZE_WORDS = (
    (re.compile(r"\b(?:bigger|larger|more powerful|beefier)" + _MACHINE, re.I), "t2.medium"),
    (re.compile(r"\b(?:smallest|tiny|cheapest)" + _MACHINE, re.I), "t2.micro"),
)
_FILE_EXTS = frozenset(
    {
        "py",
        "js",
        "ts",
        "json",
        "txt",
        "html",
        "md",
        "yml",
        "yaml",
        "toml",
        "rb",
        "go",
        "php",
        "rs",
        "ex",
        "exs",
        "cs",
        "java",
        "kt",
        "lock",
        "cfg",
        "ini",
        "env",
        "sh",
        "css",
        "jsx",
        "tsx",
        "mjs",
        "vue",
        "svelte",
        "small",
        "medium",
        "large",
        "micro",
        "nano",
        "xlarge",
    }
)
_DOMAIN = re.compile(
    r"(?:https?://|\b(?:domain|hostname|host name|subdomain|url|at|on|under|as)\s+(?:name\s+)?"
    r"(?:is\s+|of\s+|=\s*|:\s*)?)"
    r"((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})\b",
    re.I,
)
_HEALTH = [
    re.compile(
        r"\bhealth[\s-]*(?:checks?|endpoint|path|route|url|probe)?\s*"
        r"(?:(?:is|at|on|under|path|route|endpoint|:|=)\s*)*[`'\"]?(/[\w./-]*)",
        re.I,
    ),
    re.compile(r"[`'\"]?(/[\w./-]*)[`'\"]?\s+(?:is\s+)?(?:as|for)\s+(?:the\s+)?health", re.I),
    re.compile(r"\b(?:liveness|readiness)(?:\s+probe)?\s+(?:at|on|is)\s+[`'\"]?(/[\w./-]*)", re.I),
]
_SERVICE_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("postgres", re.compile(r"\b(?:postgres(?:ql)?|psql)\b", re.I)),
    ("mysql", re.compile(r"\b(?:mysql|mariadb)\b", re.I)),
    ("redis", re.compile(r"\b(?:redis|valkey)\b", re.I)),
    ("mongodb", re.compile(r"\bmongo(?:db)?\b", re.I)),
    ("rabbitmq", re.compile(r"\b(?:rabbitmq|rabbit|amqp)\b", re.I)),
    ("memcached", re.compile(r"\bmemcached?\b", re.I)),
    ("elasticsearch", re.compile(r"\b(?:elasticsearch|opensearch)\b", re.I)),
]
_NEGATION = re.compile(
    r"\b(?:no|without|not|don't|doesn't|dont|doesnt|never)\b[\w\s-]{0,20}$", re.I
)
_FOLDER_HINTS = [
    re.compile(
        r"\b(?:in|from|under|inside)\s+(?:the\s+)?[`'\"]?([\w.-]+(?:/[\w.-]+)*)/?[`'\"]?\s+"
        r"(?:folder|directory|dir|subfolder|sub-folder|subdirectory)\b",
        re.I,
    ),
    re.compile(
        r"\b(?:folder|directory|dir|subfolder|sub-folder|subdirectory)\s+[`'\"]?([\w.-]+(?:/[\w.-]+)*)",
        re.I,
    ),
    re.compile(
        r"\b(?:app|service|project)\s+(?:in|at|under|from)\s+[`'\"]?([\w.-]+(?:/[\w.-]+)*/?)", re.I
    ),
    re.compile(r"[`'\"]((?:[\w.-]+/)+[\w.-]*)[`'\"]"),
]
_VERB = re.compile(
    r"\b(?:deploy|run|host|ship|launch|serve|start|publish)\s+(?P<rest>[^.,;:!?\n]*)", re.I
)
_DETERMINERS = frozenset(
    {"the", "this", "that", "my", "our", "a", "an", "only", "just", "its", "their", "your"}
)
_GENERIC = frozenset(
    {
        "app",
        "application",
        "apps",
        "repo",
        "repository",
        "project",
        "service",
        "code",
        "it",
        "site",
        "website",
        "thing",
        "one",
        "stuff",
        "everything",
        "all",
        "whole",
        "main",
        "web",
        "server",
    }
)
_PREPOSITIONS = frozenset(
    {"to", "on", "in", "at", "with", "for", "using", "via", "into", "onto", "as", "behind"}
)


def _port(text: str) -> int | None:
    for pattern in _PORT:
        for m in pattern.finditer(text):
            if (port := valid_port(m.group(1))) is not None:
                return port
    return None


def _env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for pattern in (_ENV, _ENV_SET_TO):
        for m in pattern.finditer(text):
            raw = m.group(2)
            value = unquote(raw) if raw[:1] in "\"'`" else raw.rstrip(".)!?")
            env.setdefault(m.group(1), value)
    return env


def _target(text: str) -> Target | None:
    best: tuple[int, Target] | None = None
    for target, pattern in _TARGETS:
        m = pattern.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), target)
    return best[1] if best else None


def _domain(text: str) -> str | None:
    for m in _DOMAIN.finditer(text):
        host = m.group(1).lower()
        labels = host.split(".")
        if labels[-1] in _FILE_EXTS or _SIZE.fullmatch(host) or _REGION.search(host):
            continue
        if re.fullmatch(r"[\d.]+", host):
            continue
        return host
    return None


def _health(text: str) -> str | None:
    for pattern in _HEALTH:
        m = pattern.search(text)
        if m:
            path = m.group(1).rstrip(".,;:)!?")
            if (path and path != "/") or (path == "/" and m.group(0).rstrip().endswith("/")):
                return path or "/"
    return None


def _services(text: str) -> list[str]:
    found: list[str] = []
    for kind, pattern in _SERVICE_WORDS:
        for m in pattern.finditer(text):
            if _NEGATION.search(text[max(0, m.start() - 30) : m.start()]):
                continue
            found.append(kind)
            break
    return found


def _app_hint(text: str) -> str | None:
    for pattern in _FOLDER_HINTS:
        m = pattern.search(text)
        if m:
            hint = m.group(1).strip("/").strip()
            if hint and hint.lower() not in _GENERIC and hint.lower() not in _DETERMINERS:
                return hint
    for m in _VERB.finditer(text):
        words = [w.strip("`'\"") for w in m.group("rest").split()]
        while words and words[0].lower() in _DETERMINERS:
            words.pop(0)
        if not words:
            continue
        word = words[0]
        low = word.lower()
        if low in _PREPOSITIONS or low in _GENERIC or not re.fullmatch(r"[\w./-]+", word):
            continue
        if _PORT[0].match(word) or "=" in word:
            continue
        return low if "/" not in word else word.strip("/")
    return None


def parse_description(text: str) -> DescriptionRequest:
    """Extract port, env, target, region, size, domain, health path, app hint and services."""
    text = text or ""
    env = _env(text)
    port = _port(text)
    if port is None and "PORT" in env:
        port = valid_port(env["PORT"])
    size_m = _SIZE.search(text)
    size = size_m.group(1).lower() if size_m else None
    if size is None:
        size = next((kind for word, kind in _SIZE_WORDS if word.search(text)), None)
    region_m = _REGION.search(text)
    target = _target(text)
    if target is None and size_m is not None:
        target = "aws-ec2"  # an instance type only means something for a VM (a word may not)
    return DescriptionRequest(
        port=port,
        env=env,
        target=target,
        region=region_m.group(1).lower() if region_m else None,
        size=size,
        domain=_domain(text),
        health_path=_health(text),
        app_hint=_app_hint(text),
        services=_services(text),
    )
