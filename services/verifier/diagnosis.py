"""Why a deployment failed its health check, read from the container's own words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.verifier.health import HealthReport

__all__ = ["Diagnosis", "diagnose", "listening_port"]

_MISSING_ENV = re.compile(
    r"KeyError: '([A-Z][A-Z0-9_]*)'"
    r"|([A-Z][A-Z0-9_]{2,}) (?:is not set|must be set|is required|environment variable)"
    r"|environment variable '?([A-Z][A-Z0-9_]{2,})'? (?:is )?(?:not set|missing|required)"
    # python-decouple's config("X") and environs' env.str("X") with no value and no default.
    r"|UndefinedValueError: ([A-Z][A-Z0-9_]*) not found"
    r"|EnvError: Environment variable \"([A-Z][A-Z0-9_]*)\" not set"
    # An app's own words: "You need to set either HOOK_SECRET or HOOK_SECRET_FILE."
    r"|\b(?:[Yy]ou (?:need to|have to|must) set|[Pp]lease set) (?:either )?(?:the )?"
    r"'?([A-Z][A-Z0-9_]{2,})\b"
)
# The last one in the logs is the import that killed the app (earlier ones may be caught).
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '(?P<name>[\w.]+)'")
# "Running on http://127.0.0.1:7001", "Serving HTTP on 0.0.0.0 port 7001",
# "Listening on port 3000", "Uvicorn running on http://0.0.0.0:8000", "listening at :8080"
_LISTEN = re.compile(
    r"(?:running on|serving http on|listening (?:on|at)|started (?:on|at)|server (?:is )?"
    r"(?:running|listening) (?:on|at)|bound to|now listening on)\s+"
    r"(?:https?://)?(?P<host>\[[0-9a-f:]+\]|[\w.\-]*)?(?::|\s+port\s+|port\s+)(?P<port>\d{2,5})",
    re.I,
)
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
# A host name the app could not resolve, as runtimes word it: Node's "getaddrinfo ENOTFOUND
# api.example.com", urllib3's "Failed to resolve 'api.example.com'", Go's "dial tcp: lookup
# api.example.com", curl's "Could not resolve host: api.example.com".
_UNRESOLVED_HOST = re.compile(
    r"(?:getaddrinfo (?:ENOTFOUND|EAI_AGAIN)|Failed to resolve|dial tcp: lookup"
    r"|Could not resolve host:?)\s+'?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})"
)


@dataclass(frozen=True)
class Diagnosis:
    """The likely cause, and what a repair could change."""

    cause: str
    detected_port: int | None = None
    binds_loopback: bool = False
    missing_env: str | None = None
    evidence: str | None = None  # the log line the cause was read from

    @property
    def repairable(self) -> bool:
        """Can the generator fix this without the user (port or bind address)?"""
        return self.missing_env is None and (self.detected_port is not None or self.binds_loopback)


def _line_at(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return text[start : end if end != -1 else len(text)].strip()


_FETCH_FAILED = re.compile(r"TypeError: fetch failed")


def _is_local_name(host: str) -> bool:
    # A compose-style service alias (db, redis) that did not resolve is a missing service,
    # not the outside world; those have no dot and never match _UNRESOLVED_HOST.
    return host.endswith((".local", ".internal", ".localhost"))


def listening_port(logs: str) -> tuple[int | None, bool]:
    """The port the app says it listens on, and whether only on loopback."""
    port: int | None = None
    hosts: set[str] = set()
    for match in _LISTEN.finditer(logs):
        port = int(match.group("port"))
        hosts.add((match.group("host") or "").lower())
    loopback_only = bool(hosts) and hosts <= _LOOPBACK_HOSTS
    return port, loopback_only


def diagnose(
    logs: str,
    report: HealthReport,
    *,
    exit_code: int | None,
    expected_port: int,
    services_not_started: Sequence[str] = (),
) -> Diagnosis:
    """Name the likely cause of a failed health check from the container's logs.

    ``services_not_started`` names the backing services the app needs that its deployment
    does not run (with their evidence): a crash or an error page is then put down to them.
    """
    missing = _MISSING_ENV.search(logs)
    if missing:
        name = next(g for g in missing.groups() if g)
        return Diagnosis(
            f"the app crashed at start because the environment variable {name} is not set "
            f"(add it to the description, e.g. 'set {name}=…')",
            missing_env=name,
            evidence=_line_at(logs, missing.start()),
        )
    port, loopback_only = listening_port(logs)
    if port is not None and port != expected_port:
        return Diagnosis(
            f"the app listens on port {port}, not on {expected_port} where it was published",
            detected_port=port,
            binds_loopback=loopback_only,
        )
    if loopback_only:
        return Diagnosis(
            "the app listens on 127.0.0.1 inside its container, so nothing outside can reach it",
            binds_loopback=True,
        )
    modules = list(_MISSING_MODULE.finditer(logs))
    if exit_code is not None and modules:
        name = modules[-1].group("name")
        return Diagnosis(
            f"the app exited with code {exit_code} before answering: it imports the Python "
            f"module {name!r}, which the image does not install (a dependency the "
            "repository's requirements do not list or pin)",
            evidence=_line_at(logs, modules[-1].start()),
        )
    unresolved = _UNRESOLVED_HOST.search(logs)
    if exit_code is not None:
        failed = f"exited with code {exit_code} before answering"
    elif report.last is not None and report.last.status is not None:
        failed = f"answers with HTTP {report.last.status}"
    else:
        failed = "does not answer"
    if unresolved and not _is_local_name(unresolved.group("host")):
        host = unresolved.group("host")
        return Diagnosis(
            f"the app {failed} because it calls {host}, a host this machine cannot reach "
            "(no outside network here); it needs that service reachable or a local stand-in",
            evidence=_line_at(logs, unresolved.start()),
        )
    fetch_failed = _FETCH_FAILED.search(logs)
    if fetch_failed:
        # undici puts the host in the error's `cause`, which most frameworks do not print.
        return Diagnosis(
            f"the app {failed} because a request it makes to another service failed "
            "(Node's fetch failed; no outside network here); the service it calls must be "
            "reachable from this machine",
            evidence=_line_at(logs, fetch_failed.start()),
        )
    if services_not_started:
        return Diagnosis(
            f"the app {failed}; it needs {', '.join(services_not_started)}, which this "
            "deployment does not run (the local target starts only postgres and redis beside "
            "an app); point the app at one with its connection setting in the description"
        )
    if exit_code is not None:
        return Diagnosis(f"the app exited with code {exit_code} before answering")
    last = report.last
    if last is not None and last.status is not None:
        return Diagnosis(f"the app answers, but with HTTP {last.status} on the health path")
    return Diagnosis(
        "nothing answered on the app port (wrong port, or the app never started listening)"
    )
