"""A failed health check is put down to the thing the app lacked, named, not to its trace."""

from __future__ import annotations

from services.verifier.diagnosis import diagnose
from services.verifier.health import HealthAttempt, HealthReport

# Our own small logs, worded the way Node and Python print these failures.
NODE_FETCH_FAILED = """\
GET / 500
TypeError: fetch failed
    at node:internal/deps/undici/undici:13502:13
  [cause]: Error: getaddrinfo ENOTFOUND api.books.example.org
      at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:120:26) {
    errno: -3008,
    code: 'ENOTFOUND',
"""
PYTHON_RESOLVE_FAILED = (
    "urllib3.exceptions.NameResolutionError: <urllib3.connection.HTTPSConnection object>: "
    "Failed to resolve 'quotes.example.net' ([Errno -3] Temporary failure in name resolution)\n"
)
NODE_DRIVER_CRASH = """\
/app/node_modules/mongoose/lib/connection.js:792
    throw new MongooseError('The `uri` parameter to `openUri()` must be a string');
MongooseError: The `uri` parameter to `openUri()` must be a string, got "undefined".
    at Mongoose.connect (/app/node_modules/mongoose/lib/index.js:339:20)
Node.js v20.20.2
"""


def _answered(status: int) -> HealthReport:
    return HealthReport(url="http://127.0.0.1:1/", attempts=[HealthAttempt(0.1, status, 3.0)])


def test_an_error_page_from_an_unreachable_api_names_the_host() -> None:
    found = diagnose(NODE_FETCH_FAILED, _answered(500), exit_code=None, expected_port=3000)
    assert found.cause.startswith(
        "the app answers with HTTP 500 because it calls api.books.example.org, a host this "
        "machine cannot reach"
    )
    assert found.evidence is not None and "ENOTFOUND api.books.example.org" in found.evidence
    assert not found.repairable


def test_a_crash_on_an_unresolvable_host_names_it_too() -> None:
    found = diagnose(PYTHON_RESOLVE_FAILED, HealthReport(url="u"), exit_code=1, expected_port=80)
    assert found.cause.startswith(
        "the app exited with code 1 before answering because it calls quotes.example.net"
    )


def test_a_crash_with_a_needed_service_not_running_names_the_service() -> None:
    found = diagnose(
        NODE_DRIVER_CRASH,
        HealthReport(url="u"),
        exit_code=1,
        expected_port=3000,
        services_not_started=["mongodb (package.json:17)"],
    )
    assert found.cause.startswith(
        "the app exited with code 1 before answering; it needs mongodb (package.json:17), "
        "which this deployment does not run"
    )
    assert not found.repairable


def test_a_crash_without_those_keeps_the_plain_cause() -> None:
    found = diagnose(NODE_DRIVER_CRASH, HealthReport(url="u"), exit_code=1, expected_port=3000)
    assert found.cause == "the app exited with code 1 before answering"


def test_a_failed_fetch_without_its_host_still_names_the_outside_call() -> None:
    # SvelteKit and Remix print the stack of undici's error, not its cause (the host).
    logs = "TypeError: fetch failed\n    at node:internal/deps/undici/undici:13502:13\n"
    found = diagnose(logs, _answered(500), exit_code=None, expected_port=3000)
    assert found.cause.startswith(
        "the app answers with HTTP 500 because a request it makes to another service failed"
    )
    assert found.evidence == "TypeError: fetch failed"
