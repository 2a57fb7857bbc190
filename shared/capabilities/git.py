"""Safe, bounded `git clone`: https only, depth 1, no hooks, no submodules, no symlinks.

The commit's file count and size are checked against the limits before its checkout,
and a watchdog bounds the on-disk size while git runs.

The token (if any) reaches git through GIT_CONFIG_* environment variables as an HTTP
header: never in the URL, the command line, `.git/config`, a log line or an error; and
only for the remote's own origin. git follows no redirect, and connects to the address
that was vetted (``shared.egress.pin_host``), never resolving the host again itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import fcntl
import os
import re
import shutil
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from shared.egress import Pin, Resolver, pin_host
from shared.events import JobRequest
from shared.security import check_repo_url, redact, register_secret, unseal
from shared.settings import Settings
from shared.stage import PermanentError

__all__ = [
    "CloneLimits",
    "TransientCloneError",
    "adopt_first_clone",
    "clone_repository",
    "clone_warm",
    "first_clone_dir",
    "git_env",
    "kept_clone_dir",
    "pin_remote",
    "redirect_reason",
    "remove_kept_clone",
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

    @classmethod
    def from_settings(cls, settings: Settings) -> CloneLimits:
        """The limits the settings give (GIT_CLONE_TIMEOUT_S, GIT_MAX_REPO_MB, GIT_MAX_FILES)."""
        return cls(
            timeout_s=settings.git_clone_timeout_s,
            max_mb=settings.git_max_repo_mb,
            max_files=settings.git_max_files,
        )


def git_env(
    token: str | None, home: Path, *, remote: str | None = None, pin: Pin | None = None
) -> dict[str, str]:
    """Environment for a git process that reads no user/system config and never prompts.

    git follows no redirect (a public host answering 302 to an internal one would get
    that one fetched, with the token); ``pin`` makes it connect to the vetted address;
    the token goes only to ``remote``'s origin (scheme, host and port).
    """
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
        "http.followRedirects": "false",
    }
    if pin is not None:
        config.update(pin.git_config())
    if token:
        register_secret(token)
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        register_secret(basic)
        config[f"http.{_origin(remote)}.extraHeader" if remote else "http.extraHeader"] = (
            f"Authorization: Basic {basic}"
        )
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _origin(url: str) -> str:
    """scheme://host[:port]/ of a URL, as git's per-URL ``http.<url>.*`` settings match it."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}" + (
        f":{parts.port}/" if parts.port else "/"
    )


async def pin_remote(
    url: str,
    allowed_hosts: Iterable[str],
    *,
    resolver: Resolver | None = None,
    check_public: bool = True,
) -> Pin:
    """Vet ``url`` (shape, then every address its host resolves to) and pin one address."""
    host = check_repo_url(url, allowed_hosts, shape_only=not check_public)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return await pin_host(
        parts.hostname or host,  # as git will name it, trailing dot and all
        port,
        allowed_hosts=allowed_hosts,
        resolver=resolver,
        check_public=check_public,
    )


async def clone_repository(
    url: str,
    dest: Path,
    *,
    token: str | None,
    allowed_hosts: Iterable[str],
    limits: CloneLimits,
    commit: str | None = None,
    resolver: Resolver | None = None,
) -> str:
    """Clone ``url`` (at ``commit`` if given) into ``dest``; return the commit SHA.

    A commit over the limits is refused before its checkout; whatever fails, ``dest`` is
    removed. ``resolver`` replaces the system's DNS (tests).
    """
    try:
        pin = await pin_remote(url, list(allowed_hosts), resolver=resolver)
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    home = dest.parent / f".{dest.name}-home"
    home.mkdir(exist_ok=True)
    env = git_env(token, home, remote=url, pin=pin)
    try:
        sha = await _fetch_and_check_out(url, dest, commit, env, limits)
        await asyncio.to_thread(_check_files, dest, limits)
    except BaseException:
        # A refused or failed clone leaves nothing behind, whoever called it.
        await asyncio.to_thread(shutil.rmtree, dest, True)
        raise
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return sha


async def _fetch_and_check_out(
    url: str, dest: Path, commit: str | None, env: dict[str, str], limits: CloneLimits
) -> str:
    """Fetch without a checkout, refuse a commit over the limits, then check it out."""
    if commit:
        await _git(["init", "-q", str(dest)], env, limits, dest, url)
        await _git(["-C", str(dest), "remote", "add", "origin", "--", url], env, limits, dest, url)
        await _git(
            ["-C", str(dest), "fetch", "-q", "--depth", "1", "--no-tags", "origin", commit],
            env,
            limits,
            dest,
            url,
        )
        rev = "FETCH_HEAD"
    else:
        await _git(
            [
                "clone",
                "-q",
                "--no-checkout",
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
        rev = "HEAD"
    try:
        sha = (await _git(["-C", str(dest), "rev-parse", rev], env, limits, dest, url)).strip()
    except PermanentError as exc:
        if "unknown revision" in str(exc) or "ambiguous argument 'HEAD'" in str(exc):
            raise PermanentError(f"the repository {url} is empty: it has no commit") from None
        raise
    await _check_tree(sha, env, limits, dest, url)
    await _git(["-C", str(dest), "checkout", "-q", rev], env, limits, dest, url)
    return sha


async def _check_tree(
    sha: str, env: dict[str, str], limits: CloneLimits, dest: Path, url: str
) -> None:
    """Count and size the commit's files from the object database, before any is written.

    A small pack can check out to gigabytes or millions of files (one blob or tree named
    many times): such a commit is refused here, without the checkout ever starting.
    """
    proc = await asyncio.create_subprocess_exec(
        "git",
        "-C",
        str(dest),
        "ls-tree",
        "-r",
        "-l",
        "-z",
        "--full-tree",
        sha,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    assert proc.stdout is not None and proc.stderr is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.timeout_s
    count = 0
    size = 0
    rest = b""
    try:
        # Each entry: "<mode> <type> <object> <size>\t<path>\0"; a submodule's size is "-".
        while chunk := await asyncio.wait_for(proc.stdout.read(1 << 16), deadline - loop.time()):
            *entries, rest = (rest + chunk).split(b"\0")
            for entry in entries:
                meta = entry.split(b"\t", 1)[0].split()
                if len(meta) == 4 and meta[1] == b"blob":
                    count += 1
                    size += int(meta[3])
            if count > limits.max_files:
                raise _too_many_files(limits)
        stderr = await asyncio.wait_for(proc.stderr.read(), deadline - loop.time())
        await asyncio.wait_for(proc.wait(), deadline - loop.time())
    except TimeoutError:
        raise PermanentError(
            f"cloning {url} took longer than {limits.timeout_s:g}s (GIT_CLONE_TIMEOUT_S)"
        ) from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise _classify(redact(stderr.decode(errors="replace")), url)
    if size > limits.max_bytes:
        raise _too_large(size, limits)


def _too_many_files(limits: CloneLimits) -> PermanentError:
    return PermanentError(
        f"the repository has more than {limits.max_files} files; autodeploy refuses "
        "repositories this large (GIT_MAX_FILES)"
    )


def _too_large(size: int, limits: CloneLimits) -> PermanentError:
    return PermanentError(
        f"the repository's files take {size // 2**20} MB, over the "
        f"{limits.max_bytes // 2**20} MB limit (GIT_MAX_REPO_MB)"
    )


def _check_files(root: Path, limits: CloneLimits) -> None:
    # After the checkout too: attributes (eol, working-tree-encoding) can grow files.
    count = 0
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames:
            dirnames.remove(".git")
        count += len(filenames)
        if count > limits.max_files:
            raise _too_many_files(limits)
        for name in filenames:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, name)).st_size
    if size > limits.max_bytes:
        raise _too_large(size, limits)


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
# With http.followRedirects=false git reports the 3xx as an error.
_REDIRECT = re.compile(r"returned error: 30[12378]\b")
_TRANSIENT = re.compile(
    r"connection (refused|reset|timed out)|failed to connect|couldn't connect|timed out|"
    r"error: 5\d\d|"
    r"early eof|unexpected disconnect|gnutls|ssl",
    re.I,
)


def _classify(stderr: str, url: str) -> Exception:
    tail = " ".join(stderr.strip().splitlines()[-3:])[:400]
    if (reason := redirect_reason(stderr, url)) is not None:
        return PermanentError(reason)
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


def redirect_reason(stderr: str, url: str) -> str | None:
    """The reason to give when git's ``stderr`` says the server at ``url`` redirected."""
    if _REDIRECT.search(stderr) is None:
        return None
    return (
        f"the git server at {url} answered with a redirect, and redirects are not followed "
        "(one could lead to a private address, with the token); give the repository's "
        "final URL"
    )


def repository_token(request: JobRequest, settings: Settings) -> str | None:
    """The token to fetch the repository with: the request's own, else the configured one.

    The configured GITHUB_TOKEN belongs to the operator and only ever goes to the GitHub
    that GITHUB_API_URL names: sent to whatever host a request names, anyone could have it
    handed to their own git server.
    """
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
    if settings.github_token is None or not _is_github(request.repo_url, settings.github_api_url):
        return None
    return settings.github_token.get_secret_value() or None


def _is_github(repo_url: str, api_url: str) -> bool:
    """True when ``repo_url`` is on the GitHub whose REST API is ``api_url``.

    https://api.github.com serves https://github.com; a GitHub Enterprise Server's API
    (https://ghe.example.com/api/v3) serves its own host. Scheme, host and port must match.
    """
    try:
        repo, api = urlsplit(repo_url), urlsplit(api_url)
        repo_port, api_port = repo.port, api.port
    except ValueError:
        return False
    api_host = (api.hostname or "").lower()
    if api_host.startswith("api."):
        api_host = api_host[len("api.") :]
    return (
        bool(api_host)
        and repo.scheme.lower() == api.scheme.lower()
        and (repo.hostname or "").lower() == api_host
        and repo_port == api_port
    )


# --- warm fetches: a clone kept per app between revisions --------------------------------


def kept_clone_dir(workspace_dir: str | Path, app_id: object) -> Path:
    """Where the clone kept for an app lives: ``<WORKSPACE_DIR>/kept/<app id>``."""
    return Path(workspace_dir) / "kept" / str(app_id)


def first_clone_dir(workspace_dir: str | Path, job_id: object) -> Path:
    """Where the analyzer keeps a job's clone before the job has an app: ``kept/job-<id>``.

    An app is made by the provisioner, after the analysis; the first revision's clone is
    kept under the job and handed to its app then (`adopt_first_clone`), so the
    provisioner checks the commit out instead of fetching it a second time.
    """
    return Path(workspace_dir) / "kept" / f"job-{job_id}"


def adopt_first_clone(first: Path, kept: Path) -> bool:
    """Make the job's first clone the app's kept clone, unless the app has one; True if so.

    ``first`` is gone afterwards either way. Both locks are held (the app's first, the
    order every holder of two takes them in), so no revision is using either meanwhile.
    """
    fds = []
    try:
        for path in (kept, first):
            fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        adopted = (first / "HEAD").exists() and not kept.exists()
        if adopted:
            os.rename(first, kept)
            os.utime(fds[0])  # the app's clone was just used: not the first to evict
        else:
            shutil.rmtree(first, ignore_errors=True)
        first.with_name(first.name + ".lock").unlink(missing_ok=True)
    finally:
        for fd in fds:
            os.close(fd)
    return adopted


async def clone_warm(
    url: str,
    dest: Path,
    *,
    kept: Path,
    keep_at_most: int,
    token: str | None,
    allowed_hosts: Iterable[str],
    limits: CloneLimits,
    commit: str | None = None,
    resolver: Resolver | None = None,
) -> tuple[str, bool]:
    """Like :func:`clone_repository`, through a clone kept at ``kept``; (SHA, was warm).

    The kept clone is a bare repository: each revision fetches its commit into it (depth
    1, with the same pinning, no-redirect, token and limit rules as a clone), or finds it
    there already, and ``dest`` gets a work tree that borrows its objects. The kept clone
    is wiped when it grows over GIT_MAX_REPO_MB or an operation on it fails (the next one
    starts cold), and at most ``keep_at_most`` kept clones stay beside it (the least
    recently used go).
    """
    try:
        pin = await pin_remote(url, list(allowed_hosts), resolver=resolver)
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc
    kept.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    home = dest.parent / f".{dest.name}-home"
    home.mkdir(parents=True, exist_ok=True)
    env = git_env(token, home, remote=url, pin=pin)
    lock = await _lock(kept)
    try:
        warm = (kept / "HEAD").exists()
        if warm and await asyncio.to_thread(_dir_size, kept) > limits.max_bytes:
            warm = False
        try:
            sha = await _fetch_kept(url, kept, commit, env, limits, warm=warm)
            await _check_tree(sha, env, limits, kept, url)
            dest.mkdir(parents=True)
            await _git(["init", "-q", str(dest)], env, limits, dest, url)
            alternates = dest / ".git" / "objects" / "info" / "alternates"
            alternates.write_text(f"{(kept / 'objects').resolve()}\n")
            await _git(["-C", str(dest), "checkout", "-q", sha], env, limits, dest, url)
            await asyncio.to_thread(_check_files, dest, limits)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, dest, True)
            await asyncio.to_thread(shutil.rmtree, kept, True)
            raise
    finally:
        os.close(lock)
        shutil.rmtree(home, ignore_errors=True)
    await asyncio.to_thread(_evict, kept.parent, keep_at_most, kept)
    return sha, warm


async def _fetch_kept(
    url: str,
    kept: Path,
    commit: str | None,
    env: dict[str, str],
    limits: CloneLimits,
    *,
    warm: bool,
) -> str:
    """The commit's SHA in the kept clone, fetched unless it is there already."""
    git = ["-c", "gc.auto=0", "-c", "maintenance.auto=false", "-C", str(kept)]
    if not warm:
        await asyncio.to_thread(shutil.rmtree, kept, True)
        await _git(["init", "-q", "--bare", str(kept)], env, limits, kept, url)
        await _git([*git, "remote", "add", "origin", "--", url], env, limits, kept, url)
    else:
        await _git([*git, "remote", "set-url", "origin", "--", url], env, limits, kept, url)
        if commit and re.fullmatch(r"[0-9a-f]{40}", commit):
            with contextlib.suppress(PermanentError):
                # Another stage (or an earlier revision) fetched this commit already.
                return (
                    await _git(
                        [*git, "rev-parse", "--verify", "-q", f"{commit}^{{commit}}"],
                        env,
                        limits,
                        kept,
                        url,
                    )
                ).strip()
    await _git(
        [*git, "fetch", "-q", "--depth", "1", "--no-tags", "origin", commit or "HEAD"],
        env,
        limits,
        kept,
        url,
    )
    try:
        return (await _git([*git, "rev-parse", "FETCH_HEAD"], env, limits, kept, url)).strip()
    except PermanentError as exc:
        if "unknown revision" in str(exc) or "ambiguous argument" in str(exc):
            raise PermanentError(f"the repository {url} is empty: it has no commit") from None
        raise


_LOCK_POLL_S = 0.05


async def _lock(kept: Path) -> int:
    """The kept clone's lock, as an open descriptor; closing it releases the lock.

    One holder at a time per kept clone (the analyzer and the provisioner share it when
    they share WORKSPACE_DIR); the lock file's mtime is the clone's last use. The lock is
    tried without blocking and retried on the event loop, so a handler cancelled while it
    waits closes its descriptor: a blocking ``flock`` in a worker thread would take the
    lock after the cancel and hold it, with nobody to release it, until the process ends.
    """
    fd = os.open(kept.with_name(kept.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL_S)
        os.utime(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _evict(root: Path, keep_at_most: int, current: Path) -> None:
    """Remove the least recently used kept clones beyond ``keep_at_most`` (never ``current``)."""
    locks = sorted(root.glob("*.lock"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in locks[keep_at_most:]:
        kept = stale.with_suffix("")
        if kept == current:
            continue
        fd = os.open(stale, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use right now: it is not the least recently used after all
            shutil.rmtree(kept, ignore_errors=True)
            stale.unlink(missing_ok=True)
        finally:
            os.close(fd)


def remove_kept_clone(kept: Path) -> bool:
    """Remove an app's kept clone (the app was deleted); False when there was none."""
    existed = kept.exists()
    if not kept.parent.is_dir():
        return False
    fd = os.open(kept.with_name(kept.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        shutil.rmtree(kept, ignore_errors=True)
        kept.with_name(kept.name + ".lock").unlink(missing_ok=True)
    finally:
        os.close(fd)
    return existed
