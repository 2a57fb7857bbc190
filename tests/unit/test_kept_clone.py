"""An app's revisions fetch into a kept clone: warm, bounded, and removed with the app."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from shared.capabilities.git import (
    CloneLimits,
    adopt_first_clone,
    clone_warm,
    first_clone_dir,
    kept_clone_dir,
    remove_kept_clone,
)
from shared.stage import PermanentError
from tests.support.gitserver import FastImport, GitServer, commit_files

pytestmark = pytest.mark.integration


def _head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _push(git_server: GitServer, name: str, files: dict[str, str | bytes]) -> str:
    work = git_server.root / ".work" / name
    sha = commit_files(work, files, "next")
    subprocess.run(
        ["git", "push", "-q", str(git_server.root / f"{name}.git"), "main"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    return sha


async def _warm(
    git_server: GitServer,
    url: str,
    dest: Path,
    kept: Path,
    commit: str | None = None,
    *,
    keep_at_most: int = 5,
    limits: CloneLimits | None = None,
) -> tuple[str, bool]:
    return await clone_warm(
        url,
        dest,
        kept=kept,
        keep_at_most=keep_at_most,
        token=None,
        allowed_hosts=[git_server.host],
        limits=limits or CloneLimits(max_mb=1, max_files=10),
        commit=commit,
    )


async def test_the_second_revision_fetches_into_the_kept_clone(
    git_server: GitServer, tmp_path: Path
) -> None:
    url = git_server.create_repo("kept-app", {"app.py": "one\n", "requirements.txt": "flask\n"})
    kept = kept_clone_dir(tmp_path / "work", "app-1")
    first, warm = await _warm(git_server, url, tmp_path / "work" / "a", kept)
    assert not warm and first == _head(tmp_path / "work" / "a")
    assert (kept / "HEAD").exists()  # kept after the first revision's checkout

    second = _push(git_server, "kept-app", {"app.py": "two\n"})
    got, warm = await _warm(git_server, url, tmp_path / "work" / "b", kept, commit=second)
    assert (got, warm) == (second, True)
    assert (tmp_path / "work" / "b" / "app.py").read_text() == "two\n"
    assert (tmp_path / "work" / "b" / "requirements.txt").read_text() == "flask\n"
    assert _head(tmp_path / "work" / "b") == second

    # A commit the kept clone holds is checked out without asking the server at all.
    git_server.remove_repo("kept-app")
    got, warm = await _warm(git_server, url, tmp_path / "work" / "c", kept, commit=second)
    assert (got, warm) == (second, True)
    assert (tmp_path / "work" / "c" / "app.py").read_text() == "two\n"


def _bomb(fi: FastImport) -> None:
    fi.file("index.html", "<h1>hi</h1>\n")
    blob = fi.blob(iter([b"x" * 2**20] * 3), 3 * 2**20)
    for i in range(4):
        fi.file(f"media/{i}.bin", blob)
    fi.commit()


async def test_a_commit_over_the_limits_is_refused_and_the_kept_clone_wiped(
    git_server: GitServer, tmp_path: Path
) -> None:
    url = git_server.create_repo("kept-bomb", {"index.html": "ok\n"})
    kept = kept_clone_dir(tmp_path / "work", "app-2")
    await _warm(git_server, url, tmp_path / "work" / "a", kept)
    url = git_server.create_repo_from_fast_import("kept-bomb", _bomb)
    with pytest.raises(PermanentError, match="over the 10 MB limit"):
        await _warm(git_server, url, tmp_path / "work" / "b", kept, limits=CloneLimits(max_mb=10))
    assert not (tmp_path / "work" / "b").exists() and not kept.exists()


async def test_only_the_most_recently_used_kept_clones_stay(
    git_server: GitServer, tmp_path: Path
) -> None:
    url = git_server.create_repo("kept-many", {"index.html": "ok\n"})
    kept = [kept_clone_dir(tmp_path / "work", f"app-{n}") for n in range(3)]
    for n, where in enumerate(kept):
        await _warm(git_server, url, tmp_path / "work" / f"w{n}", where, keep_at_most=2)
    assert [k.exists() for k in kept] == [False, True, True]

    assert remove_kept_clone(kept[1]) and not kept[1].exists()
    assert not remove_kept_clone(kept[1])


async def test_a_revision_cancelled_while_it_waits_for_the_lock_does_not_keep_it(
    tmp_path: Path, git_server: GitServer
) -> None:
    # A handler cancelled while another holds the kept clone (a stage's time limit, a
    # shutdown) must not take the lock afterwards and keep it: the app's next revision
    # would wait on it for as long as the process lives.
    url = git_server.create_repo("locked", {"app.py": "print('v1')\n"})
    kept = kept_clone_dir(tmp_path / "ws", "app-locked")
    kept.parent.mkdir(parents=True)
    holder = os.open(kept.with_name(kept.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiting = asyncio.create_task(_warm(git_server, url, tmp_path / "a", kept))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    os.close(holder)  # the other holder finishes
    await asyncio.sleep(0.3)  # time for a blocked thread, had there been one, to take it
    probe = os.open(kept.with_name(kept.name + ".lock"), os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: still held
    finally:
        os.close(probe)
    sha, _ = await _warm(git_server, url, tmp_path / "b", kept)
    assert sha == _head(tmp_path / "b")


async def test_an_apps_first_revision_adopts_the_clone_its_analysis_kept(
    git_server: GitServer, tmp_path: Path
) -> None:
    url = git_server.create_repo("kept-first", {"app.py": "one\n"})
    work = tmp_path / "work"
    first = first_clone_dir(work, "job-1")
    sha, warm = await _warm(git_server, url, work / "analyzer", first)
    assert not warm

    kept = kept_clone_dir(work, "app-1")
    assert adopt_first_clone(first, kept)
    assert not first.exists() and not first.with_name(first.name + ".lock").exists()
    # The provisioner checks the analysed commit out without asking the server again.
    git_server.remove_repo("kept-first")
    got, warm = await _warm(git_server, url, work / "provisioner", kept, commit=sha)
    assert (got, warm) == (sha, True)
    assert (work / "provisioner" / "app.py").read_text() == "one\n"


async def test_a_first_clone_is_dropped_when_the_app_already_keeps_one(
    git_server: GitServer, tmp_path: Path
) -> None:
    url = git_server.create_repo("kept-twice", {"app.py": "one\n"})
    work = tmp_path / "work"
    kept = kept_clone_dir(work, "app-2")
    await _warm(git_server, url, work / "a", kept)
    first = first_clone_dir(work, "job-2")
    await _warm(git_server, url, work / "b", first)
    before = sorted(p.name for p in kept.iterdir())

    assert not adopt_first_clone(first, kept)
    assert not first.exists() and sorted(p.name for p in kept.iterdir()) == before
