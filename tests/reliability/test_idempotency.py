"""Issue 8 point 2: Idempotency-Key makes a repeated submission return the first answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.e2e

BODY = {"repo_url": "https://github.com/pallets/flask", "description": "deploy it"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.support.stack import Isolated, Stack

    iso = Isolated.create()
    stack = Stack(iso=iso, workdir=tmp_path_factory.mktemp("idem")).start(["gateway"])
    yield stack
    stack.stop()
    iso.drop()


def _post(stack, key: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/request", json=body, headers={"Idempotency-Key": key}, timeout=10
    )


def _jobs(stack) -> int:
    return stack.sql("SELECT count(*) AS n FROM jobs")[0]["n"]


def test_a_repeat_returns_the_first_answer_and_makes_no_second_job(gateway) -> None:
    before = _jobs(gateway)
    first = _post(gateway, "key-repeat", BODY)
    again = _post(gateway, "key-repeat", BODY)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert _jobs(gateway) == before + 1
    assert gateway.sql("SELECT count(*) AS n FROM outbox")[0]["n"] in (0, 1)


def test_the_same_key_with_another_body_is_refused(gateway) -> None:
    before = _jobs(gateway)
    assert _post(gateway, "key-other", BODY).status_code == 202
    other = _post(gateway, "key-other", {**BODY, "description": "something else"})
    assert other.status_code == 422 and "different body" in other.text
    assert _jobs(gateway) == before + 1


def test_concurrent_repeats_make_exactly_one_job(gateway) -> None:
    before = _jobs(gateway)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _post(gateway, "key-race", BODY), range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert _jobs(gateway) == before + 1


def test_keys_are_scoped_per_key_not_per_body(gateway) -> None:
    a = _post(gateway, "key-a", BODY).json()["job_id"]
    b = _post(gateway, "key-b", BODY).json()["job_id"]
    assert a != b
