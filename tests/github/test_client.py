"""The GitHub client's errors, rate-limit handling and repository names."""

from __future__ import annotations

import re

import pytest

from services.provisioner.github import GitHubClient, GitHubError, repo_name_for
from tests.github.conftest import Sleeps
from tests.support.github_stub import GitHubStub, Scripted


async def test_a_wrong_or_missing_token_is_a_401_that_never_shows_it(
    stub: GitHubStub, token: str
) -> None:
    for bad in ("", "ghp_" + "w" * 36):
        async with GitHubClient(bad, base_url=stub.base_url) as github:
            with pytest.raises(GitHubError) as caught:
                await github.get_authenticated_user()
        error = caught.value
        assert error.status == 401 and not error.transient
        assert "Bad credentials" in str(error) and "token is missing" in str(error)
        assert error.documentation_url and error.documentation_url in str(error)
        if bad:
            assert bad not in str(error) and bad not in repr(error)


async def test_an_echoed_token_is_scrubbed_from_the_error(
    stub: GitHubStub, client: GitHubClient, token: str
) -> None:
    stub.script(
        Scripted(400, {"message": f"token {token} looks odd", "errors": [{"message": token}]})
    )
    with pytest.raises(GitHubError) as caught:
        await client.get_authenticated_user()
    assert caught.value.status == 400
    assert token not in str(caught.value) and "looks odd" in str(caught.value)


async def test_rate_limits_are_waited_out(stub: GitHubStub, token: str, sleeps: Sleeps) -> None:
    stub.script(Scripted.rate_limited(reset_in_s=3), Scripted.retry_after(2))
    async with GitHubClient(token, base_url=stub.base_url, sleep=sleeps) as github:
        assert await github.get_authenticated_user() == stub.owner
    assert len(sleeps) == 2 and 1 <= sleeps[0] <= 4 and sleeps[1] == 2
    assert len(stub.calls("GET", "/user")) == 3


async def test_rate_limit_retries_are_bounded(stub: GitHubStub, token: str, sleeps: Sleeps) -> None:
    stub.script(*[Scripted.retry_after(1)] * 10)
    async with GitHubClient(
        token, base_url=stub.base_url, sleep=sleeps, rate_limit_retries=3
    ) as github:
        with pytest.raises(GitHubError) as caught:
            await github.create_repo("x", "")
    assert caught.value.status == 429 and caught.value.transient
    assert sleeps == [1, 1, 1]
    assert len(stub.calls("POST", "/user/repos")) == 4


async def test_a_far_reset_fails_at_once(stub: GitHubStub, token: str, sleeps: Sleeps) -> None:
    stub.script(Scripted.rate_limited(reset_in_s=3600))
    async with GitHubClient(
        token, base_url=stub.base_url, sleep=sleeps, max_rate_limit_wait_s=60
    ) as github:
        with pytest.raises(GitHubError, match="rate limit") as caught:
            await github.get_authenticated_user()
    assert caught.value.status == 403 and caught.value.transient
    assert sleeps == []  # an hour-long wait is the caller's retry policy, not a hang here


async def test_create_gives_up_after_its_attempts(stub: GitHubStub, client: GitHubClient) -> None:
    stub.add_repo("taken")
    stub.script(
        *[
            Scripted(
                422,
                {
                    "message": "Repository creation failed.",
                    "errors": [
                        {
                            "resource": "Repository",
                            "code": "custom",
                            "field": "name",
                            "message": "name already exists on this account",
                        }
                    ],
                    "documentation_url": "https://docs.github.com/rest/repos/repos",
                },
            )
        ]
        * 4
    )
    with pytest.raises(GitHubError, match="name already exists"):
        await client.create_repo("taken", "", attempts=3)
    names = [r.body["name"] for r in stub.calls("POST", "/user/repos")]
    assert names[0] == "taken" and len(set(names)) == 3


@pytest.mark.parametrize(
    ("task", "stem"),
    [
        ("Sales Summary", "sales-summary"),
        ("captcha-solver_v2", "captcha-solver_v2"),
        ("  ../../Évil/Task?!  ", "vil-task"),
        ("", "site"),
        ("...", "site"),
    ],
)
def test_repo_names_are_safe_with_a_suffix(task: str, stem: str) -> None:
    name = repo_name_for(task)
    assert re.fullmatch(rf"{re.escape(stem)}-[0-9a-f]{{6}}", name), name
    assert repo_name_for(task) != name  # a fresh suffix each time


def test_long_names_fit_and_seeds_are_stable() -> None:
    name = repo_name_for("a" * 500, seed="job-1")
    assert len(name) == 100 and name == repo_name_for("a" * 500, seed="job-1")
    assert name != repo_name_for("a" * 500, seed="job-2")
