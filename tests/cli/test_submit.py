"""`autodeploy submit`: post, follow the job through its stages, report how it ended."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Run
from tests.cli.fakegateway import DEPLOYED_URL, FakeGateway

ROOT = Path(__file__).resolve().parents[2]
REPO = "https://git.example/you/app"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODEPLOY_")}
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_submit_follows_every_stage_and_prints_the_url(gateway: FakeGateway) -> None:
    proc = _cli(
        "--api", gateway.url, "--poll-interval", "0.01",
        "submit", REPO, "--description", "deploy this flask app",
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    status_lines = [line for line in lines if line.startswith("[")]
    assert [line.split()[2] for line in status_lines] == [
        "queued", "analyzing", "generating", "provisioning", "verifying", "completed",
    ]  # fmt: skip
    # the timeline says what is done and what is active
    assert "analyze ✓" in status_lines[2] and "generate ▶" in status_lines[2]
    assert "provision ·" in status_lines[2]
    assert "verify ✓" in status_lines[-1]
    # every log line, once, in order, each after the status it arrived with
    messages = [
        "analyzer: cloning the repository",
        "analyzer: cloned commit 0a1b2c3d",
        "analyzer: 12 files; flask app in '.', target local",
        "generator: wrote 4 files (attempt 1)",
        f"provisioner: running at {DEPLOYED_URL}",
        f"verifier: {DEPLOYED_URL}/ answered HTTP 200 in 12 ms",
    ]
    positions = [next(i for i, line in enumerate(lines) if m in line) for m in messages]
    assert positions == sorted(positions)
    assert all(sum(m in line for line in lines) == 1 for m in messages)
    assert "INFO" in lines[positions[0]]
    assert lines[-1].startswith("✓ deployed") and lines[-1].endswith(DEPLOYED_URL)

    posted = [r for r in gateway.requests if r.method == "POST"]
    assert [r.body for r in posted] == [
        {"repo_url": REPO, "description": "deploy this flask app", "mode": "deploy"}
    ]


def test_submit_json_prints_only_the_final_job(gateway: FakeGateway) -> None:
    proc = _cli(
        "--api", gateway.url, "submit", REPO, "-d", "flask", "--json", "--poll-interval", "0.01"
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    assert job["status"] == "completed"
    assert job["result"]["url"] == DEPLOYED_URL
    assert len(job["logs"]) == 6
    assert proc.stderr == ""


def test_rejected_exits_2_with_the_reason(cli: Callable[..., Run]) -> None:
    run = cli("submit", REPO, "-d", "this will be rejected")

    assert run.code == 2
    assert "rejected" in run.err
    assert "not an HTTP service: no web framework or server found" in run.err
    assert "analyze ✗" in run.out


def test_failed_exits_1_with_the_stage_and_the_whole_reason(cli: Callable[..., Run]) -> None:
    run = cli("submit", REPO, "-d", "this has failed")

    assert run.code == 1
    assert "failed at provisioner" in run.err
    assert "pip could not install flask==99" in run.err
    assert "step 3/5 exited 1" in run.err  # the second line of the error is kept
    assert "provision ✗" in run.out
    # a multi-line log message stays readable: its later lines are indented under it
    log = run.out.splitlines()
    at = next(i for i, line in enumerate(log) if "docker build failed" in line)
    assert "ERROR" in log[at] and log[at + 1].strip() == "step 3/5: exit 1"


def test_failed_and_rejected_json_keep_their_exit_codes(cli: Callable[..., Run]) -> None:
    failed = cli("--json", "submit", REPO, "-d", "failed")
    rejected = cli("submit", REPO, "-d", "rejected", "--json")

    assert failed.code == 1 and json.loads(failed.out)["status"] == "failed"
    assert rejected.code == 2 and json.loads(rejected.out)["error"].startswith("not an HTTP")


def test_plan_stops_after_the_generator_and_points_at_the_bundle(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    run = cli("submit", REPO, "-d", "flask", "--plan", "--target", "aws-ec2")

    assert run.code == 0, run.err
    assert "planned" in run.out and "nothing was applied" in run.out
    assert "provision \u2013" in run.out
    assert "--download bundle.tar.gz" in run.out
    assert gateway.requests[0].body == {
        "repo_url": REPO, "description": "flask", "mode": "plan", "target": "aws-ec2",
    }  # fmt: skip


def test_no_follow_returns_the_job_id_at_once(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    run = cli("submit", REPO, "-d", "flask", "--no-follow", "--json")

    accepted = json.loads(run.out)
    assert run.code == 0 and accepted["status"] == "queued"
    assert gateway.job_status(accepted["job_id"]) == "queued"  # nobody polled it
    assert not any(r.path.startswith("/job/") for r in gateway.requests)


def test_github_token_comes_from_the_named_variable_and_is_never_printed(
    gateway: FakeGateway,
) -> None:
    secret = "github_pat_11ABCDEFG0123456789_secretsecret"
    proc = _cli(
        "--api", gateway.url, "--poll-interval", "0.01",
        "submit", REPO, "-d", "flask", "--github-token-env", "MY_GH_TOKEN",
        env=_env(MY_GH_TOKEN=secret),
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert gateway.requests[0].body["github_token"] == secret
    assert secret not in proc.stdout + proc.stderr


def test_github_token_variable_unset_is_a_usage_error(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    run = cli("submit", REPO, "-d", "flask", "--github-token-env", "NOT_SET_ANYWHERE_42")

    assert run.code == 3
    assert "NOT_SET_ANYWHERE_42 is not set" in run.err
    assert gateway.requests == []


def test_422_names_the_field_and_the_reason(cli: Callable[..., Run]) -> None:
    run = cli("submit", "http://git.example/app", "-d", "flask")

    assert run.code == 3
    assert "repo_url: repo_url must be an https:// URL" in run.err
    assert "Traceback" not in run.err


def test_following_survives_a_short_api_outage(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    job_id = gateway.add_job("completed", at=2)
    gateway.fail_requests(3, after=2)

    run = cli("logs", job_id, "--follow")

    assert run.code == 0, run.err
    assert "retrying" in run.err and "answers again" in run.err
    assert "verifier:" in run.out


def test_tty_redraws_a_live_status_line(gateway: FakeGateway) -> None:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "--api", gateway.url,
         "--poll-interval", "0.05", "submit", REPO, "-d", "flask"],
        cwd=ROOT,
        env=_env(COLUMNS="200", LINES="40"),
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.2)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(primary)
    assert proc.wait(timeout=10) == 0
    screen = b"".join(chunks).decode()

    assert "\r\x1b[2K" in screen  # the live line is cleared and redrawn
    assert any(frame in screen for frame in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
    assert "analyzer: cloned commit 0a1b2c3d" in screen
    assert "deployed in" in screen and DEPLOYED_URL in screen
    # the final words are not left mixed with a half-erased status line
    last = screen.rsplit("\r\x1b[2K", 1)[-1]
    assert "deployed" in last and "⠋" not in last
