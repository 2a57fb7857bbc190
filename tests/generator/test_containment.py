"""Hostile bundles stay contained: no remote ADD, no build context or mount outside the job's
folder (also when an LLM proposes them), and `make up` always runs the generated Makefile."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import yaml

from services.generator.bundle import generate_bundle, validate_bundle
from services.generator.llm import improve_bundle
from shared.llm import LLMClient
from tests.generator.stacks import STACKS, make_analysis
from tests.support.llm_fixtures import ClientFactory, LogSink
from tests.support.openai_stub import OpenAIStub, json_reply

API_KEY = "sk-test-autodeploy-0123456789abcdef"


@pytest.fixture
def bundle() -> dict[str, str]:
    files = generate_bundle(STACKS["python-fastapi"], job_id="job-contain")
    assert validate_bundle(files) == []
    return files


def _with_dockerfile_line(bundle: dict[str, str], line: str) -> tuple[dict[str, str], int]:
    lines = bundle["Dockerfile"].splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("FROM")) + 1
    lines.insert(at, line)
    return {**bundle, "Dockerfile": "\n".join(lines) + "\n"}, at + 1


@pytest.mark.parametrize(
    "line",
    [
        "ADD http://127.0.0.1:8000/secret /tmp/secret",
        "ADD https://169.254.169.254/latest/meta-data/ /tmp/md",
        "add HTTP://localhost/x /tmp/x",
        "ADD --checksum=sha256:0123 https://example.invalid/x.tgz /tmp/",
        "ADD git@example.invalid:org/repo.git /src",
        'ADD ["http://10.0.0.1/a", "/a"]',
        "ADD --chown=1000 ${SOURCE_URL} /tmp/x",
        "ADD local.txt \\\n    http://127.0.0.1/b /tmp/",
        "ONBUILD ADD http://127.0.0.1/x /x",
        "RUN --network=host curl http://127.0.0.1:5432/",
        "RUN --security=insecure id",
    ],
)
def test_unsafe_dockerfile_instruction_is_refused_with_file_and_line(
    bundle: dict[str, str], line: str
) -> None:
    files, number = _with_dockerfile_line(bundle, line)
    found = [v for v in validate_bundle(files) if v.rule == "dockerfile-unsafe"]
    assert [(v.file, v.line) for v in found] == [("Dockerfile", number)], found


def test_local_add_and_plain_run_are_allowed(bundle: dict[str, str]) -> None:
    files, _ = _with_dockerfile_line(
        bundle, "ADD vendor.tar.gz /opt/\nRUN --mount=type=cache,target=/root/.cache true"
    )
    assert [v for v in validate_bundle(files) if v.rule == "dockerfile-unsafe"] == []


def _compose(bundle: dict[str, str], edit: Callable[[dict], None]) -> dict[str, str]:
    doc = yaml.safe_load(bundle["compose.yaml"])
    edit(doc)
    return {**bundle, "compose.yaml": yaml.safe_dump(doc, sort_keys=False)}


def _set_build(key: str, value: str) -> Callable[[dict], None]:
    return lambda doc: doc["services"]["app"]["build"].__setitem__(key, value)


def _add(key: str, value: object) -> Callable[[dict], None]:
    return lambda doc: doc["services"]["app"].__setitem__(key, value)


@pytest.mark.parametrize(
    "edit",
    [
        _set_build("context", ".."),
        _set_build("context", "/"),
        _set_build("context", "~/src"),
        _set_build("context", "app/../../etc"),
        _set_build("context", "https://example.invalid/repo.git"),
        _set_build("dockerfile", "../../etc/passwd"),
        _set_build("dockerfile", "/etc/shadow"),
        _add("volumes", ["/:/host"]),
        _add("volumes", ["../:/up:ro"]),
        _add("volumes", [{"type": "bind", "source": "~/.ssh", "target": "/keys"}]),
        _add("env_file", ["/etc/environment"]),
        lambda doc: doc.__setitem__("secrets", {"k": {"file": "/root/.aws/credentials"}}),
    ],
    ids=[
        "context-dotdot", "context-root", "context-home", "context-climb", "context-url",
        "dockerfile-dotdot", "dockerfile-abs", "bind-root", "bind-up", "bind-home",
        "env-file", "secret-file",
    ],
)  # fmt: skip
def test_compose_paths_outside_the_job_folder_are_refused(
    bundle: dict[str, str], edit: Callable[[dict], None]
) -> None:
    found = [v for v in validate_bundle(_compose(bundle, edit)) if v.rule == "compose-host-path"]
    assert found and found[0].file == "compose.yaml", validate_bundle(_compose(bundle, edit))


def test_relative_paths_inside_the_folder_are_allowed(bundle: dict[str, str]) -> None:
    files = _compose(bundle, _add("volumes", ["./data:/data", "cache:/cache"]))
    assert validate_bundle(files) == []


def test_dockerfile_named_by_compose_is_checked_whatever_its_name(bundle: dict[str, str]) -> None:
    files = _compose(bundle, _set_build("dockerfile", ".autodeploy/build.txt"))
    files[".autodeploy/build.txt"] = "FROM python:3.12-slim\nADD http://127.0.0.1/x /x\n"
    found = [v for v in validate_bundle(files) if v.rule == "dockerfile-unsafe"]
    assert [(v.file, v.line) for v in found] == [(".autodeploy/build.txt", 2)]


# --- the same refusals when an LLM proposes the files ---------------------------------


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub(api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture
async def make_client(stub: OpenAIStub) -> AsyncIterator[ClientFactory]:
    factory = ClientFactory(stub, api_key=API_KEY, timeout_s=0.5, max_retries=2)
    yield factory
    await factory.close()


async def test_llm_proposal_moving_the_build_context_out_is_refused(
    bundle: dict[str, str], stub: OpenAIStub, make_client: Callable[..., LLMClient]
) -> None:
    escaped = _compose(bundle, _set_build("context", ".."))["compose.yaml"]
    remote_add, _ = _with_dockerfile_line(bundle, "ADD http://127.0.0.1:9/x /x")
    reply = json_reply({"files": [{"path": "compose.yaml", "content": escaped}]})
    second = json_reply({"files": [{"path": "Dockerfile", "content": remote_add["Dockerfile"]}]})
    stub.push(reply, second, second)
    log = LogSink()

    files, used = await improve_bundle(
        STACKS["python-fastapi"], dict(bundle), make_client(), log, max_repair_rounds=2
    )

    assert files == bundle and used.startswith("deterministic")
    repair = stub.requests[1].text("user")
    assert "[compose-host-path] compose.yaml" in repair and "'..'" in repair
    assert "[dockerfile-unsafe] Dockerfile:" in stub.requests[2].text("user")


# --- the generated Makefile cannot be shadowed ------------------------------------------

MARKER_MAKEFILE = "up:\n\ttouch {marker}\n"


@pytest.mark.parametrize(
    "names", [["GNUmakefile"], ["makefile"], ["Makefile"], ["GNUmakefile", "Makefile"]]
)
def test_make_up_runs_the_generated_makefile_whatever_the_repository_holds(
    tmp_path: Path, names: list[str]
) -> None:
    marker = tmp_path / "repository-code-ran"
    analysis = make_analysis(
        "python", "fastapi", ["main.py", "requirements.txt", *names], port=8000
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in names:
        (repo / name).write_text(MARKER_MAKEFILE.format(marker=marker))
    files = generate_bundle(analysis, job_id="job-make")
    assert validate_bundle(files) == []
    for rel, text in files.items():  # laid over the repository, as the provisioner does
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)

    # COMPOSE=true: run our recipe without a compose engine; ours creates the env file.
    proc = subprocess.run(
        ["make", "up", "COMPOSE=true"], cwd=repo, capture_output=True, text=True, timeout=30
    )

    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert (repo / ".autodeploy.env").exists(), proc.stdout  # our recipe ran


async def test_llm_proposal_with_an_impostor_provider_is_refused(
    stub: OpenAIStub, make_client: Callable[..., LLMClient]
) -> None:
    analysis = STACKS["python-fastapi"].model_copy(update={"target": "aws-ec2"})
    bundle = generate_bundle(analysis, job_id="job-contain")
    main = "terraform/aws-ec2/main.tf"
    impostor = bundle[main].replace('source  = "hashicorp/aws"', 'source  = "evil-corp/aws"')
    assert impostor != bundle[main]
    stub.push(json_reply({"files": [{"path": main, "content": impostor}]}))

    files, used = await improve_bundle(
        analysis, dict(bundle), make_client(), LogSink(), max_repair_rounds=0
    )

    assert files == bundle and used.startswith("deterministic")
    assert "[provider-impostor]" in used


def test_generated_compose_confines_the_app_as_the_local_target_does(
    bundle: dict[str, str],
) -> None:
    app = yaml.safe_load(bundle["compose.yaml"])["services"]["app"]
    assert app["security_opt"] == ["no-new-privileges:true"]
    assert app["cap_drop"] == ["ALL"] and "SYS_ADMIN" not in app["cap_add"]
    assert app["pids_limit"] == 256
