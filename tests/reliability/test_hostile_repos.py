"""Issue 8 point 3 (job level): hostile repositories fail or are handled, leaving nothing."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fixtures_web import STATIC_SITE
from tests.support.gitserver import FastImport, Symlink

pytestmark = pytest.mark.e2e

MiB = 2**20


@pytest.fixture(scope="module")
def stack(tmp_path_factory, git_server):
    from tests.support.stack import Isolated, Stack

    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("hostile"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host, "GIT_MAX_REPO_MB": "2"},
    ).start(["gateway", "analyzer", "generator"])
    yield stack
    stack.stop()
    iso.drop()


def _run(stack, url: str, timeout: float = 60) -> dict:
    job = stack.wait_job(
        stack.submit(repo_url=url, description="deploy it", mode="plan"), timeout=timeout
    )
    work = stack.workdir / "work"
    assert not work.exists() or os.listdir(work) == [], "the workspace kept files"
    return job


def test_symlink_to_etc_passwd_is_never_followed(stack, git_server) -> None:
    url = git_server.create_repo(
        "symlink-passwd", {**STATIC_SITE, "passwd.txt": Symlink("/etc/passwd")}
    )
    job = _run(stack, url)
    assert job["status"] == "planned", job["error"]
    everything = str(stack.sql("SELECT j::text FROM jobs j")) + str(
        stack.sql("SELECT a::text FROM artifacts a")
    )
    assert "root:x:0:0" not in everything


def test_hook_scripts_in_the_repository_never_run(stack, git_server, tmp_path) -> None:
    marker = tmp_path / "hook-ran"
    hook = f"#!/bin/sh\ntouch {marker}\n"
    url = git_server.create_repo(
        "with-hooks",
        {**STATIC_SITE, ".husky/post-checkout": hook, ".githooks/post-checkout": hook},
    )
    assert _run(stack, url)["status"] == "planned"
    assert not marker.exists()


def test_oversized_repository_is_refused_with_the_limit(stack, git_server) -> None:
    url = git_server.create_repo("huge", {**STATIC_SITE, "blob.bin": os.urandom(3 * 2**20)})
    job = _run(stack, url)
    assert job["status"] == "failed" and "GIT_MAX_REPO_MB" in job["error"]


def test_empty_repository_fails_clearly(stack, git_server) -> None:
    job = _run(stack, git_server.create_repo("empty", {}, empty=True))
    assert job["status"] == "failed" and "is empty" in job["error"]


def test_binary_only_repository_is_rejected_with_a_reason(stack, git_server) -> None:
    url = git_server.create_repo("binaries", {"a.bin": os.urandom(2048), "b.dat": b"\x00" * 99})
    job = _run(stack, url)
    assert job["status"] == "rejected" and "not an HTTP service" in job["error"]


def test_submodules_are_never_fetched(stack, git_server, tmp_path) -> None:
    import subprocess

    inner = git_server.create_repo("inner-secret", {"marker.txt": "INNER-SUBMODULE-CONTENT\n"})
    work = tmp_path / "outer"
    from tests.support.gitserver import commit_files

    commit_files(work, dict(STATIC_SITE))
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "PATH": os.environ["PATH"]}
    subprocess.run(
        [
            "git",
            "-C",
            str(work),
            "-c",
            "protocol.allow=always",
            "submodule",
            "add",
            "-q",
            inner,
            "vendor/inner",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    commit_files(work, {}, message="add a submodule")
    bare = git_server.root / "with-submodule.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    git_server.requests.clear()
    job = _run(stack, git_server.url("with-submodule"))
    assert job["status"] == "planned", job["error"]
    assert not [r for r in git_server.requests if "inner-secret" in r[1]], "submodule fetched"
    assert "INNER-SUBMODULE-CONTENT" not in str(stack.sql("SELECT a::text FROM artifacts a"))


# --- at full scale: 100,000 files and 1 GB, at the default limits -------------------------

DATA_FILES = 100_000
FLASK_ROOT_APP = {
    "requirements.txt": "flask\n",
    "app.py": (
        "from flask import Flask\n\n"
        "app = Flask(__name__)\n\n\n"
        "@app.route('/')\n"
        "def index():\n"
        "    return 'hello from a big repository'\n\n\n"
        "if __name__ == '__main__':\n"
        "    app.run(host='0.0.0.0', port=8080)\n"
    ),
}


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory, git_server):
    """A stack at the shipped limits: nothing in its environment sets GIT_MAX_*."""
    from shared.settings import Settings
    from tests.support.stack import Isolated, Stack

    assert Settings.model_fields["git_max_files"].default == 200_000
    assert Settings.model_fields["git_max_repo_mb"].default == 500
    iso = Isolated.create()
    stack = Stack(
        iso=iso,
        workdir=tmp_path_factory.mktemp("hostile-defaults"),
        env_overrides={"GIT_ALLOWED_HOSTS": git_server.host},
    )
    assert not any(k.upper().startswith("GIT_MAX_") for k in stack.env()), "unset GIT_MAX_*"
    dotenv = Path(__file__).resolve().parents[2] / ".env"
    assert not dotenv.exists() or "GIT_MAX_" not in dotenv.read_text().upper()
    stack.start(["gateway", "analyzer", "generator"])
    yield stack
    stack.stop()
    iso.drop()


@pytest.fixture(scope="module")
def many_files_repo(git_server) -> Iterator[str]:
    """A Flask app in the root plus 100,000 small data files in data/0000 … data/0099."""

    def write(fi: FastImport) -> None:
        for path, text in FLASK_ROOT_APP.items():
            fi.file(path, text)
        for i in range(DATA_FILES):
            fi.file(f"data/{i // 1000:04d}/{i:05d}.txt", f"row {i}\n")
        fi.commit("a web app and 100,000 data files")

    started = time.monotonic()
    url = git_server.create_repo_from_fast_import("hundred-thousand-files", write)
    print(f"built the 100,000-file repository in {time.monotonic() - started:.1f}s")
    yield url
    git_server.remove_repo("hundred-thousand-files")


@pytest.fixture
def gigabyte_repo(git_server) -> Iterator[str]:
    """A static site plus 16 files of 64 MiB that are one blob: 1 GiB once checked out.

    The pack on the wire stays well under a megabyte (the blob is one repeated line and
    is sent once), so only the checkout is large: a checkout-time bomb. The content is
    not zeros, so git cannot write it as sparse files: the bytes would really land.
    """
    line = b"autodeploy test: a gigabyte once checked out\n"
    chunk = line * (MiB // len(line)) + line[: MiB % len(line)]

    def write(fi: FastImport) -> None:
        for path, text in STATIC_SITE.items():
            fi.file(path, text)
        blob = fi.blob(itertools.repeat(chunk, 64), 64 * MiB)
        for i in range(16):
            fi.file(f"media/reel-{i:02d}.bin", blob)
        fi.commit("a site and 1 GiB of media")

    started = time.monotonic()
    url = git_server.create_repo_from_fast_import("one-gigabyte", write)
    print(f"built the 1 GiB repository in {time.monotonic() - started:.1f}s")
    yield url
    git_server.remove_repo("one-gigabyte")
    assert not (git_server.root / "one-gigabyte.git").exists()


@contextlib.contextmanager
def _peak_of(work: Path) -> Iterator[dict[str, int]]:
    """Sample the workspace while the block runs: the most files and bytes it ever held."""
    peak = {"files": 0, "bytes": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            files = size = 0
            for dirpath, _dirs, names in os.walk(work):
                files += len(names)
                for name in names:
                    with contextlib.suppress(OSError):
                        size += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            peak["files"] = max(peak["files"], files)
            peak["bytes"] = max(peak["bytes"], size)
            done.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def _timed_run(stack, url: str, timeout: float = 60) -> tuple[dict, float]:
    started = time.monotonic()
    job = _run(stack, url, timeout)
    return job, time.monotonic() - started


def _messages(job: dict) -> list[str]:
    return [line["message"] for line in job["logs"]]


def test_hundred_thousand_files_are_analysed_at_the_default_limits(
    default_stack, many_files_repo
) -> None:
    # About 7 s on an idle 2-core machine; checking out and deleting 100,000 files is
    # filesystem work that slows down a lot when other jobs load the disk.
    job, seconds = _timed_run(default_stack, many_files_repo, timeout=120)
    print(f"100,000-file job: {job['status']} in {seconds:.1f}s")
    assert job["status"] == "planned", job["error"]
    analysis = job["analysis"]
    assert analysis["verdict"] == "http-service"
    assert analysis["framework"] == "flask" and analysis["app_root"] == "."
    assert analysis["port"]["value"] == 8080
    # Every file was really checked out and walked: the app's two and the 100,000.
    assert analysis["file_count"] == DATA_FILES + len(FLASK_ROOT_APP)
    assert any("100002 files" in m for m in _messages(job))


def test_more_files_than_git_max_files_fail_naming_the_limit(make_stack, many_files_repo) -> None:
    stack = make_stack(("gateway", "analyzer", "generator"), GIT_MAX_FILES="50000")
    with _peak_of(stack.workdir / "work") as peak:
        job, seconds = _timed_run(stack, many_files_repo)
    print(f"100,000 files over GIT_MAX_FILES=50000: {job['status']} in {seconds:.1f}s, {peak}")
    assert job["status"] == "failed" and job["stage"] == "analyzer"
    assert "more than 50000 files" in job["error"] and "GIT_MAX_FILES" in job["error"]
    assert not any("cloned commit" in m for m in _messages(job)), "refused after the clone"
    # Refused from the commit's tree, before the checkout wrote a single one of them.
    assert peak["files"] < 1000, peak
    assert seconds < 30


def test_a_gigabyte_checkout_is_refused_at_the_default_limit(default_stack, gigabyte_repo) -> None:
    with _peak_of(default_stack.workdir / "work") as peak:
        job, seconds = _timed_run(default_stack, gigabyte_repo)
    print(f"1 GiB repository: {job['status']} in {seconds:.1f}s, {peak}")
    assert job["status"] == "failed" and job["stage"] == "analyzer"
    assert "GIT_MAX_REPO_MB" in job["error"] and "500 MB" in job["error"], job["error"]
    assert "1024 MB" in job["error"], job["error"]  # the size is the checkout's, exactly
    assert not any("cloned commit" in m for m in _messages(job)), "refused after the clone"
    # The gigabyte never reached the disk: the clone stopped before the checkout.
    assert peak["bytes"] < 50 * MiB, peak
    assert seconds < 30


# --- issue 21 point 3: a YAML alias bomb -----------------------------------------------------


def _peak_rss_mib(pid: int) -> float:
    """The process's resident-set high-water mark (VmHWM) since it started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def test_an_alias_bomb_compose_file_fails_the_job_and_the_analyzer_stays_small(
    make_stack, git_server
) -> None:
    from tests.analyzer.test_hostile_input import alias_bomb

    bomb = alias_bomb(levels=8)  # 540 bytes; 9**8 strings once its aliases are expanded
    stack = make_stack(("gateway", "analyzer", "generator"))
    url = git_server.create_repo("alias-bomb", {**FLASK_ROOT_APP, "docker-compose.yml": bomb})
    job, seconds = _timed_run(stack, url)
    analyzer = stack.procs["analyzer"]
    peak = _peak_rss_mib(analyzer.pid)
    print(f"alias bomb ({len(bomb)} bytes): {job['status']} in {seconds:.1f}s, {peak:.0f} MiB")
    assert analyzer.poll() is None, "the analyzer died"
    assert job["status"] == "failed" and job["stage"] == "analyzer", job["error"]
    assert job["error"].startswith("docker-compose.yml: refused: YAML aliases expand")
    assert "alias bomb" in job["error"]
    assert peak < 200, f"the analyzer peaked at {peak:.0f} MiB"
