"""Backing services the code uses only when an environment variable is set.

Many samples fall back to SQLite (or an in-memory cache) unless a variable names the real
service: `if (process.env.MYSQL_HOST) … else require('./sqlite')`, or Python's
`if os.environ.get("REDIS_URL"):`. Such a service is optional: the app runs without it, so
a deployment must neither fail for want of it nor start it for nothing. This module finds
the presence tests and says which service kinds they make optional, with their file:line.
"""

from __future__ import annotations

import re

from shared.analysis import Evidence

from ._model import AppContext, evidence_at

__all__ = ["find_optional_services", "services_named_by"]

# Each pattern starts at a literal and skips only bounded blanks, so it scans in linear time.
# JavaScript: if (process.env.X) / if (process.env["X"]) / process.env.X ? a : b
_JS_TEST = re.compile(
    r"""\bif\s*\(\s*process\.env(?:\.(?P<a>[A-Z][A-Z0-9_]*)|\[["'](?P<b>[A-Z][A-Z0-9_]*)["']\])"""
    r"""\s*\)|process\.env\.(?P<c>[A-Z][A-Z0-9_]*)\s*\?(?![?.])"""
)
# Python: `if os.environ.get("X"):`, `if "X" in os.environ:`, `a if os.getenv("X") else b`.
_PY_TEST = re.compile(
    r"""\bif\s+(?:os\.(?:environ\.get|getenv)\(\s*["'](?P<a>[A-Z][A-Z0-9_]*)["']\s*\)"""
    r"""|["'](?P<b>[A-Z][A-Z0-9_]*)["']\s+in\s+os\.environ)\s*(?::|else\b)"""
)
_PATTERNS = {".js": _JS_TEST, ".mjs": _JS_TEST, ".cjs": _JS_TEST, ".ts": _JS_TEST, ".py": _PY_TEST}
_SUFFIXES = tuple(_PATTERNS)
# The service a variable's family names (MYSQL_HOST, MYSQL_URL … are MySQL's).
_FAMILIES = (
    ("MYSQL_", ("mysql",)),
    ("MARIADB_", ("mysql",)),
    ("POSTGRES_", ("postgres",)),
    ("PG", ("postgres",)),
    ("REDIS_", ("redis",)),
    ("MONGO", ("mongodb",)),
    ("RABBITMQ_", ("rabbitmq",)),
    ("AMQP_", ("rabbitmq",)),
    ("MEMCACHE", ("memcached",)),
    ("ELASTICSEARCH_", ("elasticsearch",)),
    # A SQL database URL whose absence means SQLite.
    ("DATABASE_URL", ("postgres", "mysql")),
)


def services_named_by(name: str) -> tuple[str, ...]:
    """The backing-service kinds an environment variable's name belongs to."""
    for prefix, kinds in _FAMILIES:
        if name.startswith(prefix):
            return kinds
    return ()


def find_optional_services(ctx: AppContext) -> dict[str, tuple[str, Evidence]]:
    """Service kind -> (variable, where the code tests it) for each presence-tested service."""
    found: dict[str, tuple[str, Evidence]] = {}
    for rel, text in ctx.sources(_SUFFIXES, limit=40):
        pattern = _PATTERNS[rel[rel.rfind(".") :]]
        if "process.env" not in text and "os." not in text:
            continue
        for match in pattern.finditer(text):
            name = next(v for v in match.groupdict().values() if v)
            for kind in services_named_by(name):
                found.setdefault(kind, (name, evidence_at(rel, text, match.start())))
    return found
