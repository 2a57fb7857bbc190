"""Issue 2 acceptance 5: bad inputs get a 4xx with a reason, and nothing is queued."""

from __future__ import annotations

import socket

import httpx
import pytest

pytestmark = pytest.mark.e2e

GOOD = {"repo_url": "https://github.com/pallets/flask", "description": "deploy it"}

CASES = [
    ("missing repo_url", {"description": "x"}, 422, "repo_url"),
    ("missing description", {"repo_url": GOOD["repo_url"]}, 422, "description"),
    ("empty repo_url", {**GOOD, "repo_url": ""}, 422, "repo_url"),
    ("blank description", {**GOOD, "description": "   "}, 422, "blank"),
    ("not a URL", {**GOOD, "repo_url": "not a url"}, 422, "repo_url"),
    ("file://", {**GOOD, "repo_url": "file:///etc"}, 422, "only https://"),
    ("ext::", {**GOOD, "repo_url": "ext::sh -c touch% /tmp/pwned"}, 422, "remote helper"),
    ("ssh://", {**GOOD, "repo_url": "ssh://git@github.com/a/b.git"}, 422, "only https://"),
    ("leading dash", {**GOOD, "repo_url": "--upload-pack=touch /tmp/x"}, 422, "start with '-'"),
    ("credentials in URL", {**GOOD, "repo_url": "https://u:p@github.com/a/b"}, 422, "credentials"),
    ("loopback", {**GOOD, "repo_url": "https://127.0.0.1/a/b"}, 422, "non-public"),
    ("metadata address", {**GOOD, "repo_url": "https://169.254.169.254/a/b"}, 422, "non-public"),
    ("decimal IP", {**GOOD, "repo_url": "https://2130706433/a/b"}, 422, "non-public"),
    ("mapped IPv6", {**GOOD, "repo_url": "https://[::ffff:127.0.0.1]/a/b"}, 422, "non-public"),
    ("plain http", {**GOOD, "repo_url": "http://github.com/a/b"}, 422, "plain http"),
    ("unknown target", {**GOOD, "target": "mars"}, 422, "target"),
    ("unknown mode", {**GOOD, "mode": "yolo"}, 422, "mode"),
    ("unknown field", {**GOOD, "colour": "blue"}, 422, "colour"),
    ("wrong type", {**GOOD, "description": 42}, 422, "description"),
    ("repo_url as a list", {**GOOD, "repo_url": ["https://github.com/a/b"]}, 422, "repo_url"),
    ("null description", {**GOOD, "description": None}, 422, "description"),
    ("token as a number", {**GOOD, "github_token": 12345}, 422, "github_token"),
    ("mode null", {**GOOD, "mode": None}, 422, "mode"),
    ("huge description", {**GOOD, "description": "x" * 10_001}, 422, "description"),
    ("huge repo_url", {**GOOD, "repo_url": "https://github.com/" + "a" * 2100}, 422, "repo_url"),
    ("empty object", {}, 422, "repo_url"),
    ("git@ scp form", {**GOOD, "repo_url": "git@github.com:a/b.git"}, 422, "only https://"),
    ("fd:: helper", {**GOOD, "repo_url": "fd::17"}, 422, "remote helper"),
    ("javascript scheme", {**GOOD, "repo_url": "javascript:alert(1)"}, 422, "only https://"),
    ("no path", {**GOOD, "repo_url": "https://github.com"}, 422, "no repository path"),
    ("newline in URL", {**GOOD, "repo_url": "https://github.com/a/b\n-c"}, 422, "whitespace"),
    ("token in URL", {**GOOD, "repo_url": "https://ghp_abc@github.com/a/b"}, 422, "credentials"),
    ("hex IP", {**GOOD, "repo_url": "https://0x7f000001/a/b"}, 422, "non-public"),
    ("octal IP", {**GOOD, "repo_url": "https://0177.0.0.1/a/b"}, 422, "non-public"),
    ("short IP", {**GOOD, "repo_url": "https://127.1/a/b"}, 422, "non-public"),
    ("zero address", {**GOOD, "repo_url": "https://0.0.0.0/a/b"}, 422, "non-public"),
    ("private 10/8", {**GOOD, "repo_url": "https://10.1.2.3/a/b"}, 422, "non-public"),
    ("private 172.16/12", {**GOOD, "repo_url": "https://172.20.0.1/a/b"}, 422, "non-public"),
    ("private 192.168/16", {**GOOD, "repo_url": "https://192.168.1.1/a/b"}, 422, "non-public"),
    ("carrier-grade NAT", {**GOOD, "repo_url": "https://100.64.0.1/a/b"}, 422, "non-public"),
    ("link-local", {**GOOD, "repo_url": "https://169.254.1.1/a/b"}, 422, "non-public"),
    ("IPv6 loopback", {**GOOD, "repo_url": "https://[::1]/a/b"}, 422, "non-public"),
    ("IPv6 link-local", {**GOOD, "repo_url": "https://[fe80::1]/a/b"}, 422, "non-public"),
    ("IPv6 unique-local", {**GOOD, "repo_url": "https://[fd12::1]/a/b"}, 422, "non-public"),
    ("localhost by name", {**GOOD, "repo_url": "https://localhost/a/b"}, 422, "localhost"),
    # The machine's own name resolves to a loopback or private address.
    (
        "name resolving to this machine",
        {**GOOD, "repo_url": f"https://{socket.gethostname().lower()}/a/b"},
        422,
        "resolves",
    ),
    ("invalid port", {**GOOD, "repo_url": "https://github.com:99999/a/b"}, 422, "port"),
    ("bad host characters", {**GOOD, "repo_url": "https://git_hub$.com/a/b"}, 422, "host"),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.support.stack import Isolated, Stack

    iso = Isolated.create()
    stack = Stack(iso=iso, workdir=tmp_path_factory.mktemp("gw")).start(["gateway"])
    yield stack
    stack.stop()
    iso.drop()


@pytest.mark.parametrize(("name", "body", "status", "reason"), CASES, ids=[c[0] for c in CASES])
def test_bad_request_is_refused_with_reason(gateway, name, body, status, reason) -> None:
    response = httpx.post(f"{gateway.url}/request", json=body, timeout=10)
    assert response.status_code == status, response.text
    assert reason.lower() in response.text.lower()
    assert gateway.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 0
    assert gateway.sql("SELECT count(*) AS n FROM outbox")[0]["n"] == 0


@pytest.mark.parametrize(
    ("content", "ctype"),
    [
        (b'{"repo_url": ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"repo_url=https://github.com/a/b", "application/x-www-form-urlencoded"),
        (b"", "application/json"),
        (b"\xff\xfe{", "application/json"),
    ],
    ids=["truncated", "array", "form-encoded", "empty", "not utf-8"],
)
def test_bodies_that_are_not_a_json_object_are_refused(gateway, content, ctype) -> None:
    response = httpx.post(
        f"{gateway.url}/request", content=content, headers={"Content-Type": ctype}
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["detail"]
    assert gateway.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 0


def test_malformed_json_is_refused(gateway) -> None:
    response = httpx.post(
        f"{gateway.url}/request",
        content=b'{"repo_url": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "json" in response.text.lower()


def test_ten_megabyte_body_is_refused_before_reading(gateway) -> None:
    body = b'{"repo_url": "https://github.com/a/b", "description": "' + b"x" * 10_000_000 + b'"}'
    response = httpx.post(
        f"{gateway.url}/request", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in response.text
    assert gateway.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 0


def test_list_and_job_lookups(gateway) -> None:
    assert httpx.get(f"{gateway.url}/job/00000000-0000-0000-0000-000000000000").status_code == 404
    assert httpx.get(f"{gateway.url}/job/not-a-uuid").status_code == 422
    page = httpx.get(f"{gateway.url}/list", params={"limit": 5}).json()
    assert page["items"] == [] and page["total"] == 0
    assert httpx.get(f"{gateway.url}/list", params={"limit": 0}).status_code == 422
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{gateway.url}/readyz").json()
    assert ready["checks"] == {"postgres": "ok", "rabbitmq": "ok"}
    assert "autodeploy_jobs_submitted_total" in httpx.get(f"{gateway.url}/metrics").text
    assert httpx.get(f"{gateway.url}/openapi.json").json()["paths"]["/request"]


def test_accepted_job_is_listed_newest_first_and_filterable(gateway) -> None:
    ids = []
    for i in range(3):
        r = httpx.post(f"{gateway.url}/request", json={**GOOD, "description": f"job {i}"})
        assert r.status_code == 202 and r.json()["status"] == "queued"
        ids.append(r.json()["job_id"])
    page = httpx.get(f"{gateway.url}/list", params={"limit": 2}).json()
    assert [j["id"] for j in page["items"]] == [ids[2], ids[1]]
    assert page["next_offset"] == 2
    rest = httpx.get(f"{gateway.url}/list", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in rest["items"]][:1] == [ids[0]]
    queued = httpx.get(f"{gateway.url}/list", params={"status": "queued"}).json()
    assert queued["total"] >= 3
    assert httpx.get(f"{gateway.url}/list", params={"status": "failed"}).json()["total"] == 0
    job = httpx.get(f"{gateway.url}/job/{ids[0]}").json()
    assert job["status"] == "queued" and job["request"]["repo_url"] == GOOD["repo_url"]


def test_invalid_request_never_echoes_the_token(gateway) -> None:
    token = "github_pat_" + "A" * 600  # too long: refused, and must not come back
    response = httpx.post(f"{gateway.url}/request", json={**GOOD, "github_token": token})
    assert response.status_code == 422
    assert "AAAAAAAAAA" not in response.text and "github_token" in response.text
