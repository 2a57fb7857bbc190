"""`status`, `logs`, `list`, `artifacts`, `destroy`, the API token and the error messages."""

from __future__ import annotations

import io
import json
import socket
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from services.cli.main import main
from tests.cli.conftest import Run
from tests.cli.fakegateway import DEPLOYED_URL, FILES, FakeGateway

MISSING = "00000000-0000-4000-8000-000000000000"


def test_status_shows_the_job(cli: Callable[..., Run], gateway: FakeGateway) -> None:
    job_id = gateway.add_job("completed", at=6)

    run = cli("status", job_id)

    assert run.code == 0
    fields = dict(line.split(None, 1) for line in run.out.splitlines() if line.strip())
    assert fields["job"] == job_id
    assert fields["status"] == "completed (verifier)"
    assert fields["url"] == DEPLOYED_URL
    assert fields["app"] == "flask, port 5000"
    assert "verify ✓" in fields["progress"]


def test_status_of_a_failed_job_answers_0_and_shows_the_error(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    job_id = gateway.add_job("failed", at=4)

    run = cli("status", job_id, "--json")

    assert run.code == 0
    job = json.loads(run.out)
    assert job["status"] == "failed" and "flask==99" in job["error"]


def test_logs_prints_every_line_then_follow_streams_until_the_end(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    job_id = gateway.add_job("completed", at=2)

    now = cli("logs", job_id)
    assert now.code == 0
    assert [line.split(None, 2)[2] for line in now.out.splitlines()] == [
        "analyzer: cloning the repository",
        "analyzer: cloned commit 0a1b2c3d",
    ]

    followed = cli("logs", job_id, "--follow")
    assert followed.code == 0
    assert followed.out.count("analyzer: cloned commit 0a1b2c3d") == 1
    assert "verifier:" in followed.out and DEPLOYED_URL in followed.out.splitlines()[-1]
    assert not any(line.startswith("[") for line in followed.out.splitlines())  # logs only


def test_logs_follow_of_a_rejected_job_exits_2(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    job_id = gateway.add_job("rejected")

    run = cli("logs", job_id, "-f", "--json")

    assert run.code == 2
    assert json.loads(run.out)["status"] == "rejected"


def test_list_is_a_table_with_paging_and_filters(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    done = gateway.add_job("completed", at=6)
    failed = gateway.add_job("failed", at=4, repo_url="https://git.example/broken")
    gateway.add_job("completed", at=1)

    page = cli("list", "--limit", "2")
    assert page.code == 0
    header, *rows, footer = page.out.splitlines()
    assert header.split()[:4] == ["ID", "STATUS", "STAGE", "CREATED"]
    assert [r.split()[1] for r in rows] == ["analyzing", "failed"]
    assert "https://git.example/broken" in rows[1]
    assert footer == "1-2 of 3 jobs; next page: autodeploy list --offset 2"

    only_failed = cli("list", "--status", "failed", "--json")
    listed = json.loads(only_failed.out)
    assert [item["id"] for item in listed["items"]] == [failed]
    assert gateway.requests[-1].path == "/list"

    second = cli("list", "--offset", "2")
    assert done in second.out and DEPLOYED_URL in second.out

    assert "no jobs with status destroyed" in cli("list", "--status", "destroyed").out


def test_list_limit_out_of_the_apis_range_names_the_field(cli: Callable[..., Run]) -> None:
    run = cli("list", "--limit", "500")

    assert run.code == 3
    assert "limit: Input should be less than or equal to 200" in run.err


def test_artifacts_list_get_and_download(
    cli: Callable[..., Run], gateway: FakeGateway, tmp_path: Path
) -> None:
    job_id = gateway.add_job("completed", at=6)

    listed = cli("artifacts", job_id)
    assert listed.code == 0
    assert [line.split()[0] for line in listed.out.splitlines()] == [
        "PATH", "Dockerfile", "Makefile", "compose.yaml",
    ]  # fmt: skip

    got = cli("artifacts", job_id, "--get", "Dockerfile")
    assert got.code == 0 and got.out == FILES["Dockerfile"]

    missing = cli("artifacts", job_id, "--get", "nope.txt")
    assert missing.code == 3 and "has no file 'nope.txt'" in missing.err

    target = tmp_path / "bundle.tar.gz"
    saved = cli("artifacts", job_id, "--download", str(target), "--json")
    assert saved.code == 0 and json.loads(saved.out)["bytes"] == target.stat().st_size
    with tarfile.open(fileobj=io.BytesIO(target.read_bytes())) as tar:
        names = sorted(n.rsplit("/", 1)[-1] for n in tar.getnames())
    assert names == sorted(FILES)


def test_artifacts_before_generation_say_so(cli: Callable[..., Run], gateway: FakeGateway) -> None:
    job_id = gateway.add_job("completed", at=1)

    assert "has no generated files yet" in cli("artifacts", job_id).out
    bundle = cli("artifacts", job_id, "--download", "x.tar.gz")
    assert bundle.code == 3 and "has no generated files yet" in bundle.err


def test_destroy_and_wait(cli: Callable[..., Run], gateway: FakeGateway) -> None:
    job_id = gateway.add_job("completed", at=6)

    run = cli("destroy", job_id, "--wait")

    assert run.code == 0, run.err
    assert "provisioner: tearing down" in run.out
    assert "verifier:" not in run.out  # only the teardown's own lines
    assert "teardown ✓" in run.out and "destroyed" in run.out.splitlines()[-1]
    assert [r.method for r in gateway.requests if r.method == "DELETE"] == ["DELETE"]


def test_destroy_without_wait_returns_at_once(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    job_id = gateway.add_job("completed", at=6)

    run = cli("--json", "destroy", job_id)

    assert run.code == 0
    assert json.loads(run.out) == {"job_id": job_id, "status": "destroying"}


def test_unknown_job_is_a_clear_404(cli: Callable[..., Run]) -> None:
    for command in ("status", "logs", "artifacts", "destroy"):
        run = cli(command, MISSING)
        assert run.code == 3
        assert f"no job {MISSING}" in run.err and "autodeploy list" in run.err


def test_a_job_id_that_is_not_a_uuid_is_refused_before_asking(
    cli: Callable[..., Run], gateway: FakeGateway
) -> None:
    run = cli("status", "not-a-job")

    assert run.code == 3
    assert "'not-a-job' is not a job id" in run.err
    assert gateway.requests == []


def test_usage_errors_exit_3_not_argparses_2(cli: Callable[..., Run]) -> None:
    assert cli("submit", "https://git.example/app").code == 3  # no --description
    assert cli("frobnicate").code == 3
    assert cli("list", "--limit", "0").code == 3


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "exit codes" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_api_says_how_to_start_it(cli: Callable[..., Run]) -> None:
    api = f"http://127.0.0.1:{_free_port()}"

    run = cli("list", api=api)

    assert run.code == 3
    assert f"cannot reach the autodeploy API at {api}: start it with `make dev`" in run.err
    assert "Traceback" not in run.err


def test_api_url_comes_from_the_environment(
    gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTODEPLOY_API", gateway.url + "/")

    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0


def test_api_token_is_sent_as_a_bearer_header_and_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "adp_0123456789abcdef_secret"
    server = FakeGateway(token=secret).start()
    try:
        job_id = server.add_job("completed", at=6)

        assert main(["--api", server.url, "status", job_id]) == 3
        refused = capsys.readouterr().err
        assert "refused" in refused and "AUTODEPLOY_TOKEN" in refused

        monkeypatch.setenv("AUTODEPLOY_TOKEN", secret)
        assert main(["--api", server.url, "status", job_id]) == 0
        from_env = capsys.readouterr()
        # the flag works too, given after the subcommand, and wins over the variable
        monkeypatch.setenv("AUTODEPLOY_TOKEN", "stale")
        assert main(["--api", server.url, "--poll-interval", "0.01", "submit",
                     "https://git.example/app", "-d", "flask", "--token", secret]) == 0  # fmt: skip
        from_flag = capsys.readouterr()
    finally:
        server.stop()

    sent = [r.headers.get("Authorization") for r in server.requests]
    assert sent[0] is None
    assert set(sent[1:]) == {f"Bearer {secret}"}
    for output in (from_env.out, from_env.err, from_flag.out, from_flag.err):
        assert secret not in output
