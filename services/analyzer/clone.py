"""Safe, bounded `git clone`: https only, depth 1, no hooks, no submodules, no symlinks.

The token (if any) reaches git through GIT_CONFIG_* environment variables as an HTTP
header: never in the URL, the command line, `.git/config`, a log line or an error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import os
import re
import shutil
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from shared.events import JobRequest
from shared.security import (
    check_repo_url,
    redact,
    register_secret,
    resolve_and_check_host,
    unseal,
)
from shared.settings import Settings
from shared.stage import PermanentError

__all__ = [
    "CloneLimits",
    "TransientCloneError",
    "clone_repository",
    "git_env",
    "repository_token",
]


class TransientCloneError(RuntimeError):
    """A clone failure that may go away on its own (network, server error)."""


class CloneLimits:
    """Time, size and file-count limits of one clone."""

    def __init__(self, *, timeout_s: float = 120.0, max_mb: int = 500, max_files: int = 200_000):
        self.timeout_s = timeout_s
        self.max_bytes = max_mb * 1024 * 1024
        self.max_files = max_files


def git_env(token: str | None, home: Path) -> dict[str, str]:
    """Environment for a git process that reads no user/system config and never prompts."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ALLOW_PROTOCOL": "https:http",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "LC_ALL": "C",
    }
    config = {
        "core.hooksPath": "/dev/null",
        "core.symlinks": "false",
        "core.fsmonitor": "false",
        "protocol.file.allow": "never",
        "protocol.ext.allow": "never",
        "submodule.recurse": "false",
        "http.lowSpeedLimit": "1000",
        "http.lowSpeedTime": "30",
        "advice.detachedHead": "false",
    }
    if token:
        register_secret(token)
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        register_secret(basic)
        config["http.extraHeader"] = f"Authorization: Basic {basic}"
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


async def clone_repository(
    url: str,
    dest: Path,
    *,
    token: str | None,
    allowed_hosts: Iterable[str],
    limits: CloneLimits,
    commit: str | None = None,
) -> str:
    """Clone ``url`` (at ``commit`` if given) into ``dest``; return the commit SHA."""
    allowed = list(allowed_hosts)
    try:
        host = check_repo_url(url, allowed)
        await resolve_and_check_host(host, allowed)
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    home = dest.parent / f".{dest.name}-home"
    home.mkdir(exist_ok=True)
    env = git_env(token, home)
    try:
        if commit:
            await _git(["init", "-q", str(dest)], env, limits, dest, url)
            await _git(
                ["-C", str(dest), "remote", "add", "origin", "--", url], env, limits, dest, url
            )
            await _git(
                ["-C", str(dest), "fetch", "-q", "--depth", "1", "--no-tags", "origin", commit],
                env,
                limits,
                dest,
                url,
            )
            await _git(["-C", str(dest), "checkout", "-q", "FETCH_HEAD"], env, limits, dest, url)
        else:
            await _git(
                [
                    "clone",
                    "-q",
                    "--depth",
                    "1",
                    "--no-tags",
                    "--single-branch",
                    "--no-recurse-submodules",
                    "--",
                    url,
                    str(dest),
                ],
                env,
                limits,
                dest,
                url,
            )
        sha = (await _git(["-C", str(dest), "rev-parse", "HEAD"], env, limits, dest, url)).strip()
    except PermanentError as exc:
        if "unknown revision" in str(exc) or "ambiguous argument 'HEAD'" in str(exc):
            raise PermanentError(f"the repository {url} is empty: it has no commit") from None
        raise
    finally:
        shutil.rmtree(home, ignore_errors=True)
    _check_files(dest, limits)
    return sha


def _check_files(root: Path, limits: CloneLimits) -> None:
    count = 0
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames:
            dirnames.remove(".git")
        count += len(filenames)
        if count > limits.max_files:
            raise PermanentError(
                f"the repository has more than {limits.max_files} files; autodeploy refuses "
                "repositories this large (GIT_MAX_FILES)"
            )
        for name in filenames:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, name)).st_size
    if size > limits.max_bytes:
        raise PermanentError(
            f"the repository's files take {size // 2**20} MB, over the "
            f"{limits.max_bytes // 2**20} MB limit (GIT_MAX_REPO_MB)"
        )


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _die_with_parent() -> None:
    # A stage killed with SIGKILL must not leave git writing into a workspace that the
    # redelivered attempt is about to use.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


async def _git(
    args: list[str], env: dict[str, str], limits: CloneLimits, dest: Path, url: str
) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    communicate = asyncio.ensure_future(proc.communicate())
    deadline = asyncio.get_running_loop().time() + limits.timeout_s
    try:
        while True:
            done, _ = await asyncio.wait({communicate}, timeout=0.5)
            if done:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise PermanentError(
                    f"cloning {url} took longer than {limits.timeout_s:g}s (GIT_CLONE_TIMEOUT_S)"
                )
            if await asyncio.to_thread(_dir_size, dest) > limits.max_bytes:
                raise PermanentError(
                    f"the repository is larger than {limits.max_bytes // 2**20} MB "
                    "(GIT_MAX_REPO_MB); autodeploy refuses repositories this large"
                )
    finally:
        if not communicate.done():
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await communicate
    stdout, stderr = communicate.result()
    if proc.returncode != 0:
        raise _classify(redact(stderr.decode(errors="replace")), url)
    return stdout.decode(errors="replace")


# "error: 404" is how git reports HTTP statuses; bare numbers would match port numbers.
_NOT_FOUND = re.compile(r"not found|error: 404|does not exist|no such repository", re.I)
_AUTH = re.compile(
    r"authentication failed|error: 40[13]|could not read (username|password)|"
    r"terminal prompts disabled|access denied|permission",
    re.I,
)
_DNS = re.compile(r"could not resolve host", re.I)
_TRANSIENT = re.compile(
    r"connection (refused|reset|timed out)|failed to connect|couldn't connect|timed out|"
    r"error: 5\d\d|"
    r"early eof|unexpected disconnect|gnutls|ssl",
    re.I,
)


def _classify(stderr: str, url: str) -> Exception:
    tail = " ".join(stderr.strip().splitlines()[-3:])[:400]
    if _AUTH.search(stderr):
        return PermanentError(
            f"authentication to {url} failed: the repository is private or the token lacks "
            "access; send a GitHub fine-grained token with 'Contents: read' in github_token"
        )
    if _NOT_FOUND.search(stderr):
        return PermanentError(
            f"repository {url} was not found: check the URL (a private repository also "
            "answers 'not found' without a token)"
        )
    if _DNS.search(stderr):
        return PermanentError(f"the host of {url} does not resolve: check the URL")
    if _TRANSIENT.search(stderr):
        return TransientCloneError(f"git could not fetch {url}: {tail}")
    return PermanentError(f"git could not fetch {url}: {tail}")


def repository_token(request: JobRequest, settings: Settings) -> str | None:
    """The token to fetch the repository with: the request's own, else the configured one."""
    if request.sealed_token:
        key = settings.token_encryption_key
        if key is None:
            raise PermanentError(
                "TOKEN_ENCRYPTION_KEY is not set, so the request's token cannot be read"
            )
        try:
            return unseal(request.sealed_token, key.get_secret_value())
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc
    return settings.github_token.get_secret_value() if settings.github_token else None
