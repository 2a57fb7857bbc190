"""Which environment variables the app gets, and where each value comes from.

Secret values are never written into the bundle: they are either generated on the
machine that runs the app (``make up`` writes them to an env file there), or the
operator must supply them, and the compose file refuses to start without them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from shared.analysis import Analysis

from .context import Context
from .quoting import is_valid_env_name, single_line

__all__ = ["BACKING", "BackingSpec", "EnvEntry", "EnvPlan", "plan_env"]

logger = logging.getLogger(__name__)

_SECRET_NAME_RE = re.compile(
    r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_KEY|ACCESS_KEY|CREDENTIAL|_KEY$|^KEY$"
)
# Secrets that only need to be unpredictable (not issued by a third party), so a random
# value generated at deploy time is the right one.
_GENERATABLE = frozenset(
    {
        "SECRET_KEY", "SECRET_KEY_BASE", "APP_KEY", "APP_SECRET", "SESSION_SECRET",
        "COOKIE_SECRET", "JWT_SECRET", "JWT_SECRET_KEY", "FLASK_SECRET_KEY",
        "DJANGO_SECRET_KEY", "NEXTAUTH_SECRET", "AUTH_SECRET", "ENCRYPTION_KEY",
        "SIGNING_KEY", "CSRF_SECRET",
    }
)  # fmt: skip
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_DEFAULT_RE = re.compile(r"[A-Za-z0-9 ._:/@+,=-]*")

Kind = Literal["literal", "generated", "required", "optional", "wired"]


@dataclass(frozen=True)
class EnvEntry:
    """One variable: ``value`` is a literal, or a template using ``{SECRET}``/``{host}``."""

    name: str
    kind: Kind
    value: str = ""
    note: str = ""
    service: str = ""


@dataclass(frozen=True)
class BackingSpec:
    """How one backing service runs next to the app and how the app finds it."""

    kind: str
    service: str
    port: int
    env: dict[str, str]
    healthcheck: list[str] | None
    data_dir: str | None
    secrets: tuple[str, ...]
    wiring: dict[str, str]


BACKING: dict[str, BackingSpec] = {
    "postgres": BackingSpec(
        "postgres", "postgres", 5432,
        {"POSTGRES_USER": "app", "POSTGRES_DB": "app", "POSTGRES_PASSWORD": "{POSTGRES_PASSWORD}"},
        ["CMD-SHELL", "pg_isready -U app -d app"], "/var/lib/postgresql/data",
        ("POSTGRES_PASSWORD",),
        {
            "DATABASE_URL": "postgresql://app:{POSTGRES_PASSWORD}@{host}:5432/app",
            "POSTGRES_URL": "postgresql://app:{POSTGRES_PASSWORD}@{host}:5432/app",
            "POSTGRES_HOST": "{host}", "PGHOST": "{host}", "DB_HOST": "{host}",
            "POSTGRES_PORT": "5432", "PGPORT": "5432", "DB_PORT": "5432",
            "POSTGRES_USER": "app", "PGUSER": "app", "DB_USER": "app", "DB_USERNAME": "app",
            "POSTGRES_DB": "app", "PGDATABASE": "app", "DB_NAME": "app", "DB_DATABASE": "app",
            "POSTGRES_PASSWORD": "{POSTGRES_PASSWORD}", "PGPASSWORD": "{POSTGRES_PASSWORD}",
            "DB_PASSWORD": "{POSTGRES_PASSWORD}",
        },
    ),
    "mysql": BackingSpec(
        "mysql", "mysql", 3306,
        {"MYSQL_DATABASE": "app", "MYSQL_USER": "app", "MYSQL_PASSWORD": "{MYSQL_PASSWORD}",
         "MYSQL_ROOT_PASSWORD": "{MYSQL_ROOT_PASSWORD}"},
        ["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 --silent"], "/var/lib/mysql",
        ("MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"),
        {
            "DATABASE_URL": "mysql://app:{MYSQL_PASSWORD}@{host}:3306/app",
            "MYSQL_HOST": "{host}", "DB_HOST": "{host}", "MYSQL_PORT": "3306", "DB_PORT": "3306",
            "MYSQL_USER": "app", "DB_USER": "app", "DB_USERNAME": "app",
            "MYSQL_DATABASE": "app", "DB_NAME": "app", "DB_DATABASE": "app",
            "MYSQL_PASSWORD": "{MYSQL_PASSWORD}", "DB_PASSWORD": "{MYSQL_PASSWORD}",
        },
    ),
    "redis": BackingSpec(
        "redis", "redis", 6379, {}, ["CMD", "redis-cli", "ping"], "/data", (),
        {"REDIS_URL": "redis://{host}:6379/0", "REDIS_HOST": "{host}", "REDIS_PORT": "6379",
         "CACHE_URL": "redis://{host}:6379/1"},
    ),
    "mongodb": BackingSpec(
        "mongodb", "mongodb", 27017, {},
        ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"], "/data/db", (),
        {"MONGODB_URI": "mongodb://{host}:27017/app", "MONGO_URL": "mongodb://{host}:27017/app",
         "MONGO_URI": "mongodb://{host}:27017/app", "MONGODB_URL": "mongodb://{host}:27017/app"},
    ),
    "rabbitmq": BackingSpec(
        "rabbitmq", "rabbitmq", 5672,
        {"RABBITMQ_DEFAULT_USER": "app", "RABBITMQ_DEFAULT_PASS": "{RABBITMQ_PASSWORD}"},
        ["CMD", "rabbitmq-diagnostics", "-q", "ping"], "/var/lib/rabbitmq", ("RABBITMQ_PASSWORD",),
        {"RABBITMQ_URL": "amqp://app:{RABBITMQ_PASSWORD}@{host}:5672/",
         "AMQP_URL": "amqp://app:{RABBITMQ_PASSWORD}@{host}:5672/",
         "CELERY_BROKER_URL": "amqp://app:{RABBITMQ_PASSWORD}@{host}:5672/"},
    ),
    "memcached": BackingSpec(
        "memcached", "memcached", 11211, {}, None, None, (),
        {"MEMCACHED_URL": "{host}:11211", "MEMCACHED_SERVERS": "{host}:11211",
         "MEMCACHE_SERVERS": "{host}:11211"},
    ),
    "elasticsearch": BackingSpec(
        "elasticsearch", "elasticsearch", 9200,
        {"discovery.type": "single-node", "xpack.security.enabled": "false",
         "ES_JAVA_OPTS": "-Xms512m -Xmx512m"},
        ["CMD-SHELL", "curl -fs http://127.0.0.1:9200/_cluster/health || exit 1"],
        "/usr/share/elasticsearch/data", (),
        {"ELASTICSEARCH_URL": "http://{host}:9200", "ELASTICSEARCH_HOSTS": "http://{host}:9200",
         "ES_URL": "http://{host}:9200"},
    ),
}  # fmt: skip

# Wired variables set even when the code was not seen reading them: the conventional
# connection URL for each service kind, and for Postgres libpq's own PG* variables, which
# drivers read with no DSN and settings files read by name where no read is seen.
_CANONICAL = {
    "postgres": ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"),
    "mysql": ("DATABASE_URL",), "redis": ("REDIS_URL",),
    "mongodb": ("MONGODB_URI",), "rabbitmq": ("RABBITMQ_URL",), "memcached": ("MEMCACHED_SERVERS",),
    "elasticsearch": ("ELASTICSEARCH_URL",),
}  # fmt: skip


@dataclass
class EnvPlan:
    """The app's variables plus the secrets ``make up`` must generate."""

    entries: list[EnvEntry]
    generated: dict[str, str]  # name -> recipe ("hex32", "hex64", "laravel")
    notes: list[str]


def _is_secret(name: str, flagged: bool) -> bool:
    return flagged or _SECRET_NAME_RE.search(name) is not None


def plan_env(analysis: Analysis, ctx: Context) -> EnvPlan:
    """Decide every app variable's source without ever copying a secret value."""
    notes: list[str] = []
    generated: dict[str, str] = {}
    entries: dict[str, EnvEntry] = {}
    described = analysis.description.env

    wired: dict[str, tuple[str, str]] = {}
    for kind in ctx.services:
        spec = BACKING[kind]
        for secret in spec.secrets:
            generated[secret] = "hex32"
        read = {v.name for v in analysis.env_vars} | set(described)
        for name, template in spec.wiring.items():
            if name in _CANONICAL[kind] or name in read:
                wired.setdefault(name, (template, spec.service))

    def add_secret(name: str, *, required: bool, why: str) -> None:
        if name in _GENERATABLE or name in generated:
            recipe = "laravel" if name == "APP_KEY" and ctx.framework == "laravel" else "hex64"
            generated.setdefault(name, recipe)
            entries[name] = EnvEntry(name, "generated", f"{{{name}}}", why)
        elif required:
            entries[name] = EnvEntry(name, "required", "", why)
        else:
            entries[name] = EnvEntry(name, "optional", "", why)

    names_seen: list[tuple[str, bool, bool, str | None]] = [
        (v.name, v.secret, v.required, v.default) for v in analysis.env_vars
    ]
    names_seen += [
        (n, False, False, None) for n in described if n not in {v.name for v in analysis.env_vars}
    ]
    for name, flagged, required, default in names_seen:
        if not is_valid_env_name(name):
            notes.append(
                f"Environment variable {single_line(name, limit=60)!r} was skipped: "
                "names must match [A-Z_][A-Z0-9_]*."
            )
            logger.warning("env var name refused for job %s", ctx.job_id)
            continue
        if name == "PORT" or name in entries:
            continue
        if name in wired:
            template, service = wired[name]
            entries[name] = EnvEntry(
                name, "wired", template, "connects to the bundled service", service
            )
            continue
        if _is_secret(name, flagged):
            if name in described:
                notes.append(
                    f"{name} looks like a secret, so the value given in the description "
                    "was not copied into the bundle; set it on the deploy machine."
                )
            add_secret(
                name,
                required=required or name in described,
                why="secret: generated at deploy time" if name in _GENERATABLE else "secret",
            )
            continue
        value = described.get(name, default)
        if value is not None and _CONTROL_RE.search(value):
            notes.append(
                f"{name}: its value contains line breaks or control characters, so it was "
                "left out; set it on the deploy machine."
            )
            continue
        if value is None:
            if required:
                entries[name] = EnvEntry(name, "literal", "change-me", "required; no default found")
            continue
        entries[name] = EnvEntry(
            name, "literal", value, "from the description" if name in described else "code default"
        )

    for name, (template, service) in wired.items():
        entries.setdefault(
            name, EnvEntry(name, "wired", template, "connects to the bundled service", service)
        )
    # Frameworks that refuse to boot in production without a signing key.
    framework_keys = {
        "rails": "SECRET_KEY_BASE",
        "phoenix": "SECRET_KEY_BASE",
        "laravel": "APP_KEY",
    }
    key = framework_keys.get(ctx.framework or "")
    if key and key not in entries:
        add_secret(key, required=True, why=f"{ctx.framework} needs it in production")
    return EnvPlan(sorted(entries.values(), key=lambda e: e.name), generated, notes)


def safe_default(value: str) -> bool:
    """True when ``value`` can sit inside a ``${NAME:-value}`` default unescaped."""
    return len(value) <= 200 and _SAFE_DEFAULT_RE.fullmatch(value) is not None
