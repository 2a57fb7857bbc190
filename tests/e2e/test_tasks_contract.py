# ruff: noqa: E501
"""Issue 6 acceptance 1: POST /tasks answers exactly as evaluators expect; bad ones store nothing."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import pytest

pytestmark = pytest.mark.e2e

SECRET = "contract-secret-1234"


def _good(**changes: object) -> dict:
    body = {
        "email": "student@example.com",
        "secret": SECRET,
        "task": "sum-of-sales",
        "round": 1,
        "nonce": "abc123",
        "brief": "Publish a single-page site that shows the total of data.csv in #total-sales.",
        "checks": ["js: !!document.querySelector('#total-sales')"],
        "evaluation_url": "https://example.com/notify",
        "attachments": [
            {
                "name": "data.csv",
                "url": "data:text/csv;base64," + base64.b64encode(b"a,b\n1,2\n").decode(),
            }
        ],
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.support.stack import Isolated, Stack

    iso = Isolated.create()
    stack = Stack(
        iso=iso, workdir=tmp_path_factory.mktemp("tasks"), env_overrides={"TASK_SECRET": SECRET}
    ).start(["gateway"])
    yield stack
    stack.stop()
    iso.drop()


def _nothing_stored(stack) -> None:
    assert stack.sql("SELECT count(*) AS n FROM jobs WHERE kind = 'task'")[0]["n"] == 0
    assert stack.sql("SELECT count(*) AS n FROM task_attachments")[0]["n"] == 0


CASES = [
    ("missing brief", {"brief": None}, 400, "brief"),
    ("missing nonce", {"nonce": None}, 400, "nonce"),
    ("round zero", {"round": 0}, 400, "round"),
    ("not an email", {"email": "nobody"}, 400, "email"),
    ("path-like task", {"task": "../etc"}, 400, "task"),
    ("checks not a list", {"checks": "js: 1"}, 400, "checks"),
    ("file callback", {"evaluation_url": "file:///etc/passwd"}, 400, "evaluation_url"),
    ("loopback callback", {"evaluation_url": "http://127.0.0.1:9/x"}, 400, "evaluation_url"),
    ("metadata callback", {"evaluation_url": "https://169.254.169.254/x"}, 400, "non-public"),
    (
        "path-like name",
        {"attachments": [{"name": "../../etc/passwd", "url": "data:text/plain,x"}]},
        400,
        "attachments[0].name",
    ),
    (
        "folder in name",
        {"attachments": [{"name": "a/b.csv", "url": "data:text/plain,x"}]},
        400,
        "attachments[0].name",
    ),
    (
        "not a data URI",
        {"attachments": [{"name": "a.csv", "url": "https://example.com/a.csv"}]},
        400,
        "data:",
    ),
    (
        "malformed base64",
        {"attachments": [{"name": "a.png", "url": "data:image/png;base64,@@@notbase64@@@"}]},
        400,
        "base64",
    ),
    (
        "2 MB attachment",
        {
            "attachments": [
                {
                    "name": "big.bin",
                    "url": "data:application/octet-stream;base64," + "A" * 2_800_000,
                }
            ]
        },
        400,
        "attachments[0].url",
    ),
]


@pytest.mark.parametrize(("name", "change", "status", "words"), CASES, ids=[c[0] for c in CASES])
def test_invalid_tasks_answer_400_with_the_field(gateway, name, change, status, words) -> None:
    body = _good(**{k: v for k, v in change.items()})
    for key, value in change.items():
        if value is None:
            body.pop(key)
    response = httpx.post(f"{gateway.url}/tasks", json=body, timeout=30)
    assert response.status_code == status, response.text
    assert words in response.text
    assert SECRET not in response.text
    _nothing_stored(gateway)


def test_wrong_secret_is_403_and_nothing_is_queued(gateway) -> None:
    response = httpx.post(f"{gateway.url}/tasks", json=_good(secret="not-the-secret"))
    assert response.status_code == 403 and "secret" in response.text
    _nothing_stored(gateway)


def test_percent_encoded_attachment_is_accepted(gateway) -> None:
    uri = "data:text/csv," + quote("region,sales\nnorth,1\n")
    response = httpx.post(
        f"{gateway.url}/tasks",
        json=_good(attachments=[{"name": "sales.csv", "url": uri}], nonce="pct"),
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    rows = gateway.sql(
        "SELECT name, mime, data FROM task_attachments WHERE job_id = $1::uuid", job_id
    )
    assert [(r["name"], r["mime"], bytes(r["data"])) for r in rows] == [
        ("sales.csv", "text/csv", b"region,sales\nnorth,1\n")
    ]


def test_accepted_task_answers_200_and_can_be_read_back(gateway) -> None:
    response = httpx.post(f"{gateway.url}/tasks", json=_good(nonce="ok-1"))
    assert response.status_code == 200
    assert set(response.json()) == {"job_id", "status"} and response.json()["status"] == "queued"
    task = httpx.get(f"{gateway.url}/tasks/{response.json()['job_id']}").json()
    assert task["status"] == "queued" and task["task"] == "sum-of-sales" and task["round"] == 1
    stored = gateway.sql("SELECT request::text AS r FROM jobs WHERE kind = 'task'")
    assert all(SECRET not in row["r"] for row in stored)
    assert httpx.get(f"{gateway.url}/tasks/00000000-0000-0000-0000-000000000000").status_code == 404


def test_repeated_task_with_idempotency_key_answers_the_first_job(gateway) -> None:
    headers = {"Idempotency-Key": "task-key-1"}
    first = httpx.post(f"{gateway.url}/tasks", json=_good(nonce="idem"), headers=headers)
    again = httpx.post(f"{gateway.url}/tasks", json=_good(nonce="idem"), headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()


def test_api_tokens_leave_tasks_to_their_secret_and_guard_the_rest(make_stack) -> None:
    # Issue 22: evaluators send no bearer token; the task's secret is its authentication.
    stack = make_stack(("gateway",), TASK_SECRET=SECRET, API_TOKENS="tok-gamma-123456")
    accepted = httpx.post(f"{stack.url}/tasks", json=_good(nonce="no-bearer"))
    assert accepted.status_code == 200, accepted.text
    refused = httpx.post(f"{stack.url}/tasks", json=_good(secret="wrong", nonce="no-bearer-2"))
    assert refused.status_code == 403
    job_id = accepted.json()["job_id"]
    for path in (f"/tasks/{job_id}", "/list", f"/job/{job_id}"):
        assert httpx.get(f"{stack.url}{path}").status_code == 401, path
    assert httpx.post(f"{stack.url}/request", json={"repo_url": "x"}).status_code == 401
    bearer = {"Authorization": "Bearer tok-gamma-123456"}
    assert httpx.get(f"{stack.url}/tasks/{job_id}", headers=bearer).status_code == 200


def test_repeated_task_without_idempotency_key_answers_the_first_job(gateway) -> None:
    # Issue 22: an evaluator's repeat (same email, task, round and nonce) makes no new job.
    first = httpx.post(f"{gateway.url}/tasks", json=_good(nonce="repeat-me"))
    again = httpx.post(f"{gateway.url}/tasks", json=_good(nonce="repeat-me"))
    other_round = httpx.post(f"{gateway.url}/tasks", json=_good(nonce="repeat-me", round=2))
    assert first.status_code == again.status_code == other_round.status_code == 200
    assert again.json()["job_id"] == first.json()["job_id"]
    assert other_round.json()["job_id"] != first.json()["job_id"]
    rows = gateway.sql("SELECT count(*) AS n FROM jobs WHERE request->>'nonce' = 'repeat-me'")
    assert rows[0]["n"] == 2
