"""The clone's limits hold before the checkout, on both paths, and a refusal leaves nothing."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from shared.capabilities.git import CloneLimits, clone_repository
from shared.stage import PermanentError
from tests.support.gitserver import FastImport, GitServer

pytestmark = pytest.mark.integration


def _bomb(fi: FastImport) -> None:
    """12 files of 1 MiB that are one blob: a 12 MiB checkout from a few kilobytes."""
    fi.file("index.html", "<h1>hi</h1>\n")
    blob = fi.blob(itertools.repeat(b"x" * 1024, 1024), 2**20)
    for i in range(12):
        fi.file(f"media/{i:02d}.bin", blob)
    fi.commit()


def _head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize("at_commit", [False, True], ids=["clone", "fetch-at-commit"])
async def test_a_repository_within_the_limits_is_checked_out(
    git_server: GitServer, tmp_path: Path, at_commit: bool
) -> None:
    url = git_server.create_repo("within-limits", {"a.txt": "a\n", "dir/b.txt": "b\n"})
    sha = _head(git_server.root / "within-limits.git")
    dest = tmp_path / "work" / "clone"
    got = await clone_repository(
        url,
        dest,
        token=None,
        allowed_hosts=[git_server.host],
        limits=CloneLimits(max_mb=1, max_files=2),
        commit=sha if at_commit else None,
    )
    assert got == sha
    assert (dest / "a.txt").read_text() == "a\n" and (dest / "dir/b.txt").read_text() == "b\n"
    assert _head(dest) == sha


@pytest.mark.parametrize("at_commit", [False, True], ids=["clone", "fetch-at-commit"])
@pytest.mark.parametrize(
    ("limits", "words"),
    [
        (CloneLimits(max_mb=10), "take 12 MB, over the 10 MB limit (GIT_MAX_REPO_MB)"),
        (CloneLimits(max_files=12), "more than 12 files"),
    ],
    ids=["size", "files"],
)
async def test_a_checkout_bomb_is_refused_before_its_checkout_and_removed(
    git_server: GitServer, tmp_path: Path, at_commit: bool, limits: CloneLimits, words: str
) -> None:
    url = git_server.create_repo_from_fast_import("bomb", _bomb)
    sha = _head(git_server.root / "bomb.git")
    dest = tmp_path / "work" / "clone"
    with pytest.raises(PermanentError) as caught:
        await clone_repository(
            url,
            dest,
            token=None,
            allowed_hosts=[git_server.host],
            limits=limits,
            commit=sha if at_commit else None,
        )
    assert words in str(caught.value)
    assert list((tmp_path / "work").iterdir()) == []  # the clone and git's home are gone


async def test_an_empty_repository_still_says_so(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo("empty-unit", {}, empty=True)
    with pytest.raises(PermanentError, match="is empty"):
        await clone_repository(
            url,
            tmp_path / "work" / "clone",
            token=None,
            allowed_hosts=[git_server.host],
            limits=CloneLimits(),
        )
    assert list((tmp_path / "work").iterdir()) == []
