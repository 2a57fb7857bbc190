"""Commit a set of files and push them to a git remote over HTTP(S): GitHub or any other.

The remote's branch, when it exists, is fetched and the new commit goes on top of it, so
history is kept (round 2 of a task revises round 1). The token reaches git only through
``git_env``'s GIT_CONFIG_* variables as an HTTP header: never in the URL, the command
line or ``.git/config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shared.capabilities.git import git_env, pin_remote, redirect_reason
from shared.security import RepoUrlError, redact
from shared.stage import PermanentError

__all__ = ["GitAuthor", "TransientPushError", "UnsafePathError", "check_paths", "push_files"]


@dataclass(frozen=True)
class GitAuthor:
    """Name and e-mail written as the commit's author and committer."""

    name: str
    email: str


class UnsafePathError(PermanentError):
    """A manifest path that could escape the work tree or touch git's own files."""


class TransientPushError(RuntimeError):
    """A push failure that may go away on its own (network, server error, a racing push)."""


def check_paths(paths: Mapping[str, object]) -> dict[str, PurePosixPath]:
    """Validate manifest paths: relative, no ``..``, nothing under ``.git``; normalise them."""
    clean: dict[str, PurePosixPath] = {}
    seen: set[PurePosixPath] = set()
    for raw in paths:
        if not raw or "\x00" in raw or "\\" in raw:
            raise UnsafePathError(f"manifest path {raw!r} is empty or has a NUL or backslash")
        path = PurePosixPath(raw)
        if path.is_absolute():
            raise UnsafePathError(f"manifest path {raw!r} is absolute; give a relative path")
        if ".." in path.parts:
            raise UnsafePathError(f"manifest path {raw!r} contains '..'; it must stay inside")
        if any(part.lower() == ".git" for part in path.parts):
            raise UnsafePathError(f"manifest path {raw!r} touches .git; git's files are not")
        if not path.parts or raw.endswith("/"):
            raise UnsafePathError(f"manifest path {raw!r} names a folder, not a file")
        if path in seen:
            raise UnsafePathError(f"manifest path {raw!r} appears twice")
        seen.add(path)
        clean[raw] = path
    for path in seen:
        for parent in path.parents:
            if parent in seen:
                raise UnsafePathError(f"manifest path {str(parent)!r} is both a file and a folder")
    return clean


async def push_files(
    remote_url: str,
    files: Mapping[str, str | bytes],
    *,
    workdir: Path,
    token: str | None,
    author: GitAuthor,
    message: str,
    branch: str = "main",
    timeout_s: float = 120.0,
    allowed_hosts: Iterable[str] | None = None,
    create_missing: bool = False,
) -> str:
    """Make ``files`` the whole content of ``branch`` in one new commit; return its SHA.

    An empty remote gets a first commit; an existing branch gets a commit on top of its
    head (files not in ``files`` are removed). When nothing changed, no commit is made
    and the current head is returned, so a redelivered job pushes nothing twice.
    ``workdir`` is replaced and left in place for the caller to inspect or delete.
    ``allowed_hosts`` (GIT_ALLOWED_HOSTS) vets a user-configured remote like a clone URL;
    None means the URL came from GitHub's API and only its shape is checked.
    ``create_missing`` treats a repository the remote does not have yet as empty, for
    servers that create repositories on their first push.
    """
    try:
        pin = await pin_remote(
            remote_url, allowed_hosts or (), check_public=allowed_hosts is not None
        )
    except RepoUrlError as exc:
        raise PermanentError(f"cannot push there: {exc}") from None
    paths = check_paths(files)
    if not paths:
        raise PermanentError("there are no files to push: the manifest is empty")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    home = workdir.parent / f".{workdir.name}-home"
    home.mkdir(exist_ok=True)
    env = {
        **git_env(token, home, remote=remote_url, pin=pin),
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": author.name,
        "GIT_COMMITTER_EMAIL": author.email,
    }
    ref = f"refs/heads/{branch}"
    git = _Git(env, workdir, remote_url, timeout_s)
    try:
        await git("init", "-q", "-b", branch, str(workdir))
        try:
            listed = await git("ls-remote", "--heads", remote_url, ref)
        except PermanentError as exc:
            # Push-to-create remotes (Gitea, GitLab, many self-hosted servers) only make
            # the repository on its first push: a missing one is an empty one.
            if not (create_missing and "not found" in str(exc)):
                raise
            listed = ""
        head = listed.split()[0] if listed.strip() else None
        if head:
            # Depth 1 is enough to commit on top: the server already has the history.
            await git("fetch", "-q", "--depth", "1", "--no-tags", remote_url, ref)
            await git("update-ref", ref, "FETCH_HEAD")
        # The index starts empty, so the commit's tree is exactly ``files``.
        for raw, rel in paths.items():
            target = workdir.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            content = files[raw]
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        await git("add", "-A", "--", ".")
        if head and await git.succeeds("diff", "--cached", "--quiet", head):
            return head
        await git("commit", "-q", "--no-verify", "--no-gpg-sign", "-m", message)
        await git("push", "-q", "--no-verify", remote_url, f"HEAD:{ref}")
        return (await git("rev-parse", "HEAD")).strip()
    finally:
        shutil.rmtree(home, ignore_errors=True)


class _Git:
    def __init__(self, env: dict[str, str], cwd: Path, url: str, timeout_s: float) -> None:
        self.env, self.cwd, self.url, self.timeout_s = env, cwd, url, timeout_s

    async def __call__(self, *args: str) -> str:
        code, out, err = await self._run(args)
        if code != 0:
            raise _classify(redact(err), self.url, args[0])
        return out

    async def succeeds(self, *args: str) -> bool:
        code, _out, _err = await self._run(args)
        return code == 0

    async def _run(self, args: tuple[str, ...]) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise TransientPushError(
                f"git {args[0]} against {self.url} took longer than {self.timeout_s:g}s"
            ) from None
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


_AUTH = re.compile(
    r"authentication failed|error: 40[13]|could not read (username|password)|"
    r"terminal prompts disabled|permission to .* denied|access denied",
    re.I,
)
_NOT_FOUND = re.compile(r"repository '.*' not found|error: 404|does not appear to be a git", re.I)
_RACE = re.compile(r"non-fast-forward|fetch first|\[rejected\]|failed to update ref", re.I)
_TRANSIENT = re.compile(
    r"connection (refused|reset|timed out)|failed to connect|couldn't connect|timed out|"
    r"error: 5\d\d|early eof|unexpected disconnect|the remote end hung up|gnutls|ssl",
    re.I,
)


def _classify(stderr: str, url: str, command: str) -> Exception:
    tail = " ".join(stderr.strip().splitlines()[-3:])[:400]
    if (reason := redirect_reason(stderr, url)) is not None:
        return PermanentError(reason)
    if _AUTH.search(stderr):
        return PermanentError(
            f"git {command} to {url} was refused: the token is missing or lacks "
            "'Contents: write' on this repository"
        )
    if _NOT_FOUND.search(stderr):
        return PermanentError(f"the git remote {url} was not found: check the repository URL")
    if _RACE.search(stderr):
        return TransientPushError(
            f"the branch at {url} moved while autodeploy was pushing; retrying builds on it"
        )
    if _TRANSIENT.search(stderr):
        return TransientPushError(f"git {command} against {url} failed: {tail}")
    return PermanentError(f"git {command} against {url} failed: {tail}")
