"""Create a repository, push to real git, publish on (stand-in) Pages; revise in round 2."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.provisioner.github import GitHubClient, GitHubError, repo_name_for
from services.provisioner.gitpush import UnsafePathError, push_files
from shared.stage import PermanentError
from tests.github.conftest import AUTHOR
from tests.support.github_stub import GitHubStub
from tests.support.gitserver import GitServer

ROUND1: dict[str, str | bytes] = {
    "index.html": "<!doctype html><title>Sales</title><p id='total-sales'>round one</p>\n",
    "script.js": "document.title = 'Sales';\n",
    "data/sales.csv": b"region,amount\nnorth,10\n",
    ".nojekyll": "",
}
ROUND2: dict[str, str | bytes] = {
    "index.html": "<!doctype html><title>Sales</title><p id='total-sales'>round two</p>\n",
    "data/sales.csv": b"region,amount\nnorth,10\nsouth,32\n",
    ".nojekyll": "",
}


def _git(bare: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), *args], capture_output=True, text=True, check=True
    ).stdout


def _soon(seconds: float = 10.0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_round_one_creates_pushes_and_publishes(
    stub: GitHubStub,
    client: GitHubClient,
    git_server: GitServer,
    token: str,
    tmp_path: Path,
    git_argv: Path,
) -> None:
    owner = await client.get_authenticated_user()
    assert owner == stub.owner

    # The first choice is taken: the client retries with another suffix.
    base = repo_name_for("Sales Summary (round 1)!")
    stub.add_repo(base)
    repo = await client.create_repo(base, "Sales summary")
    assert repo.name != base and repo.name.startswith(base.rsplit("-", 1)[0])
    assert len(repo.name) <= 100 and repo.owner == owner
    posts = stub.calls("POST", "/user/repos")
    assert [p.body["name"] for p in posts] == [base, repo.name]
    assert all(p.body["private"] is False and p.body["auto_init"] is False for p in posts)
    assert all(p.headers["authorization"] == f"Bearer {token}" for p in stub.requests)
    assert all(p.headers["x-github-api-version"] == "2022-11-28" for p in stub.requests)

    work = tmp_path / "work"
    sha = await push_files(
        repo.clone_url,
        ROUND1,
        workdir=work,
        token=token,
        author=AUTHOR,
        message="Round 1",
        allowed_hosts=[git_server.host],
    )
    bare = stub.bare_path(repo.name)
    assert _git(bare, "rev-parse", "refs/heads/main").strip() == sha
    assert _git(bare, "show", "main:index.html") == ROUND1["index.html"]
    assert _git(bare, "log", "-1", "--format=%an <%ae>", "main").strip() == (
        "autodeploy <autodeploy@example.test>"
    )

    # The token went only as a header: not in argv, URLs or anything under .git.
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    argv = git_argv.read_text()
    assert "push" in argv and token not in argv and basic not in argv
    assert "@" not in repo.clone_url.split("//", 1)[1]
    assert token not in (work / ".git" / "config").read_text()
    for path in (work / ".git").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert token.encode() not in data and basic.encode() not in data, path
    served = [r for r in git_server.requests if stub.repos[repo.name].bare in r[1]]
    assert any(method == "POST" and "git-receive-pack" in p for method, p, _ in served)
    assert all(auth == f"Basic {basic}" and token not in p for _, p, auth in served)

    pages = await client.enable_pages(repo.owner, repo.name, "main")
    again = await client.enable_pages(repo.owner, repo.name, "main")
    assert pages.html_url == again.html_url == stub.pages_url(repo.name)
    pages_path = f"/repos/{owner}/{repo.name}/pages"
    assert [(r.method, r.path) for r in stub.requests if r.path == pages_path][:3] == [
        ("POST", pages_path),
        ("POST", pages_path),
        ("PUT", pages_path),
    ]
    assert stub.calls("PUT", pages_path)[0].body == {"source": {"branch": "main", "path": "/"}}

    stub.site_delay_polls = 2  # the site lags behind the build request, like GitHub's CDN
    build = await client.request_pages_build(repo.owner, repo.name)
    assert build.status == "queued"
    page = await client.wait_until_published(pages.html_url, _soon(), first_delay_s=0.01)
    assert page.text == ROUND1["index.html"]
    assert [status for _, status, _ in stub.site_requests] == [404, 404, 200]
    assert all(auth is None for _, _, auth in stub.site_requests)  # no token to the site
    built = await client.wait_for_build(
        repo.owner, repo.name, commit=sha, deadline=_soon(), first_delay_s=0.01
    )
    assert built.status == "built" and built.commit == sha


async def test_round_two_adds_a_commit_on_top(
    stub: GitHubStub, client: GitHubClient, token: str, tmp_path: Path
) -> None:
    repo = await client.create_repo(repo_name_for("sales"), "")
    first = await push_files(
        repo.clone_url,
        ROUND1,
        workdir=tmp_path / "r1",
        token=token,
        author=AUTHOR,
        message="Round 1",
    )
    await client.enable_pages(repo.owner, repo.name)
    await client.request_pages_build(repo.owner, repo.name)
    pages = await client.get_pages(repo.owner, repo.name)
    assert pages is not None
    await client.wait_until_published(pages.html_url, _soon(), first_delay_s=0.01)

    found = await client.find_repo(repo.owner, repo.name)
    assert found == repo
    second = await push_files(
        found.clone_url,
        ROUND2,
        workdir=tmp_path / "r2",
        token=token,
        author=AUTHOR,
        message="Round 2",
    )
    assert second != first
    bare = stub.bare_path(repo.name)
    assert _git(bare, "log", "--format=%H %s", "main").splitlines() == [
        f"{second} Round 2",
        f"{first} Round 1",
    ]
    assert _git(bare, "ls-tree", "-r", "--name-only", "main").split() == sorted(ROUND2)

    stub.site_delay_polls = 0
    stub.build_delay_polls = 2
    await client.request_pages_build(repo.owner, repo.name)
    built = await client.wait_for_build(
        repo.owner, repo.name, commit=second, deadline=_soon(), first_delay_s=0.01
    )
    assert built.commit == second
    page = await client.wait_until_published(
        pages.html_url, _soon(), expect="round two", first_delay_s=0.01
    )
    assert "round two" in page.text
    script = await client._site.get(pages.html_url + "script.js")  # removed in round 2
    assert script.status_code == 404

    # A redelivered round 2 changes nothing and reports the same commit.
    again = await push_files(
        found.clone_url,
        ROUND2,
        workdir=tmp_path / "r2",
        token=token,
        author=AUTHOR,
        message="Round 2",
    )
    assert again == second
    assert len(_git(bare, "log", "--format=%H", "main").split()) == 2


async def test_pages_need_the_branch_and_unknown_things_are_none(
    stub: GitHubStub, client: GitHubClient
) -> None:
    assert await client.find_repo(stub.owner, "nope") is None
    repo = await client.create_repo("empty-one", "")
    assert await client.get_pages(repo.owner, repo.name) is None
    assert await client.latest_pages_build(repo.owner, repo.name) is None
    with pytest.raises(GitHubError) as caught:
        await client.enable_pages(repo.owner, repo.name, "main")
    assert caught.value.status == 422
    assert "main branch must exist" in str(caught.value)


async def test_waiting_for_a_site_that_never_comes_names_the_url(
    stub: GitHubStub, client: GitHubClient
) -> None:
    repo = await client.create_repo("never-built", "")
    url = stub.pages_url(repo.name)
    with pytest.raises(Exception, match="not published") as caught:
        await client.wait_until_published(
            url, datetime.now(UTC) + timedelta(seconds=0.3), first_delay_s=0.05
        )
    assert url in str(caught.value) and "HTTP 404" in str(caught.value)
    assert 2 <= len(stub.site_requests) <= 8  # it polled, with backoff, then gave up


async def test_push_with_a_wrong_token_fails_without_showing_it(
    stub: GitHubStub, client: GitHubClient, token: str, tmp_path: Path
) -> None:
    repo = await client.create_repo("locked", "")
    wrong = "ghp_" + "x" * 36
    with pytest.raises(PermanentError) as caught:
        await push_files(
            repo.clone_url,
            ROUND1,
            workdir=tmp_path / "w",
            token=wrong,
            author=AUTHOR,
            message="m",
        )
    assert "refused" in str(caught.value) and wrong not in str(caught.value)
    assert _git(stub.bare_path(repo.name), "for-each-ref").strip() == ""


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../outside.html",
        "a/../../x",
        ".git/config",
        "sub/.git/hooks/post",
        ".GIT/HEAD",
        "",
        "dir/",
        "a\\b",
        "a/b/..",
    ],
)
async def test_unsafe_manifest_paths_are_refused(path: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError):
        await push_files(
            "http://127.0.0.1:9/never.git",
            {"index.html": "ok", path: "x"},
            workdir=tmp_path / "w",
            token=None,
            author=AUTHOR,
            message="m",
        )
    assert not (tmp_path / "w").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.git",  # loopback, plain http, not in the allowed hosts
        "https://user:pw@example.test/x.git",  # credentials never go in a URL
        "ext::sh -c touch% /tmp/pwned",
        "--upload-pack=touch /tmp/pwned",
    ],
)
async def test_remotes_are_vetted_before_any_git_runs(
    url: str, tmp_path: Path, git_argv: Path
) -> None:
    with pytest.raises(PermanentError, match="cannot push there"):
        await push_files(
            url,
            {"index.html": "ok"},
            workdir=tmp_path / "w",
            token=None,
            author=AUTHOR,
            message="m",
            allowed_hosts=["example.test"],
        )
    assert not git_argv.exists()
