"""libpq's own PG* variables reach the app wherever a Postgres service runs beside it.

Railway/Heroku-style settings read os.environ["PGHOST"] (and PGPORT, PGUSER, PGPASSWORD,
PGDATABASE) instead of DATABASE_URL, and die with KeyError when only the URL is set.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml

from services.analyzer.detect._common import services_from_env
from services.analyzer.detect._model import EnvHit
from services.generator.bundle import generate_bundle
from shared.analysis import Evidence
from shared.capabilities.docker_local import _SERVICES
from tests.generator.stacks import STACKS

_LIBPQ = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


def _matches_url(env: dict[str, str], url: str) -> None:
    parts = urlsplit(url)
    assert (env["PGHOST"], env["PGPORT"]) == (parts.hostname, str(parts.port))
    assert (env["PGUSER"], env["PGPASSWORD"]) == (parts.username, parts.password)
    assert env["PGDATABASE"] == parts.path.lstrip("/")


def test_local_postgres_sidecar_gives_the_app_libpq_variables_matching_database_url() -> None:
    env = _SERVICES["postgres"].app_env("db", "s3cret")
    _matches_url(env, env["DATABASE_URL"])


def test_compose_wires_libpq_variables_even_when_the_code_reads_only_database_url() -> None:
    bundle = generate_bundle(STACKS["python-django"], job_id="j")
    name = next(k for k in bundle if re.fullmatch(r"compose(\.autodeploy)?\.yaml", k))
    env = yaml.safe_load(bundle[name])["services"]["app"]["environment"]
    assert set(_LIBPQ) <= set(env)
    # The password is the same generated placeholder DATABASE_URL embeds, never a value.
    password = re.search(r"app:(\$\{POSTGRES_PASSWORD[^}]*\})@", env["DATABASE_URL"])
    assert password is not None and env["PGPASSWORD"] == password.group(1)
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "postgres",
        "5432",
        "app",
        "app",
    )


def test_reading_any_libpq_variable_means_the_app_needs_postgres() -> None:
    for name in _LIBPQ:
        hit = EnvHit(name, None, False, Evidence(file="settings.py", line=9, text=name))
        assert [s.kind for s in services_from_env([hit])] == ["postgres"], name
