"""Issue 21 point 3: the analyzer's readers refuse or bound hostile files, naming the file."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
import yaml

from services.analyzer.detect import analyze_repository
from shared.safeyaml import DocumentRefused, load_untrusted_yaml

from .fixtures import write_files


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A compose file of ~500 bytes whose aliases expand to width**levels strings."""
    lines = ["x-bomb:", f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    lines += ["services:", "  app:", "    build: .", "    ports: ['8080:8080']"]
    lines += ["    environment:", f"      BOMB: *l{levels - 1}"]
    return "\n".join(lines) + "\n"


FLASK = {
    "requirements.txt": "flask\n",
    "app.py": "from flask import Flask\napp = Flask(__name__)\napp.run(port=8080)\n",
}


def analyse(root: Path):  # type: ignore[no-untyped-def]
    return analyze_repository(root, description="deploy it")


def test_an_alias_bomb_compose_file_fails_naming_the_file(tmp_path: Path) -> None:
    bomb = alias_bomb()
    assert len(bomb) < 700
    write_files(tmp_path, {**FLASK, "docker-compose.yml": bomb})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(DocumentRefused) as refused:
        analyse(tmp_path)
    assert time.monotonic() - started < 2
    assert str(refused.value).startswith("docker-compose.yml: refused:")
    assert "alias bomb" in str(refused.value)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50 * 1024


def test_anchors_and_merge_keys_of_a_real_compose_file_still_load() -> None:
    text = (
        "x-common: &common\n  restart: always\n  environment: &env\n    TZ: UTC\n"
        "services:\n"
        + "".join(f"  s{i}:\n    <<: *common\n    image: app{i}\n" for i in range(40))
        + "  web:\n    build: .\n    environment: *env\n"
    )
    doc = load_untrusted_yaml(text, source="compose.yaml")
    assert doc["services"]["s39"]["restart"] == "always"
    assert doc["services"]["web"]["environment"] == {"TZ": "UTC"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &a [*a]\n", "refers to the node that contains it"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "deeper than 64 levels"),
        ("a: " + "{b: " * 200 + "1" + "}" * 200 + "\n", "deeper than 64 levels"),
        ("- x\n" * 60_000, "more than 50000 YAML nodes"),
        ("a: '" + "x" * (2 * 2**20) + "'\n", "larger than 1048576 bytes"),
    ],
    ids=["recursive", "deep-flow", "deep-mapping", "many-nodes", "too-big"],
)
def test_hostile_yaml_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(DocumentRefused, match=reason) as refused:
        load_untrusted_yaml(text, source="deploy/compose.yaml")
    assert refused.value.source == "deploy/compose.yaml"


@pytest.mark.parametrize(
    "text",
    [
        "a: 2001-13-01\n",
        "a: " + "1" * 5000 + "\n",
        "a: " + "[" * 100_000,  # libyaml stops at 1000 levels: invalid, not a RecursionError
    ],
    ids=["month-13", "5000-digits", "100000-deep"],
)
def test_values_pyyaml_cannot_build_are_invalid_yaml_not_a_crash(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        load_untrusted_yaml(text, source="compose.yaml")


def test_an_unbuildable_compose_value_is_ignored_like_invalid_yaml(tmp_path: Path) -> None:
    write_files(tmp_path, {**FLASK, "compose.yaml": "services:\n  app:\n    x: 2001-13-01\n"})
    analysis = analyse(tmp_path)
    assert analysis.framework == "flask"
    assert any("compose.yaml is not valid YAML" in r for r in analysis.reasons)


@pytest.mark.parametrize(
    ("files", "source"),
    [
        ({"package.json": '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"}, "package.json"),
        ({"composer.json": "[" * 100_000, "index.php": "<?php echo 1;"}, "composer.json"),
        ({"deno.json": '{"tasks":' + "{" * 3000}, "deno.json"),
        ({**FLASK, "pyproject.toml": "a = " + "[" * 100_000}, "pyproject.toml"),
        ({"Cargo.toml": "a = " + "{b = " * 3000}, "Cargo.toml"),
        ({"Dockerfile": "FROM x\nCMD " + "[" * 100_000 + "\n"}, "Dockerfile"),
    ],
    ids=["package.json", "composer.json", "deno.json", "pyproject.toml", "Cargo.toml", "CMD"],
)
def test_deep_manifests_are_refused_naming_the_file(
    tmp_path: Path, files: dict[str, str], source: str
) -> None:
    write_files(tmp_path, {f"api/{name}": text for name, text in files.items()})
    with pytest.raises(DocumentRefused, match="nested deeper than 64 levels") as refused:
        analyse(tmp_path)
    assert refused.value.source == f"api/{source}"


def test_brackets_inside_strings_and_comments_do_not_count(tmp_path: Path) -> None:
    deep_text = "[" * 200
    write_files(
        tmp_path,
        {
            "package.json": (
                f'{{"name": "x", "description": "{deep_text}", '
                '"dependencies": {"express": "^4"}, "scripts": {"start": "node server.js"}}'
            ),
            "server.js": "require('express')().listen(3000)\n",
            "pyproject.toml": f"# {deep_text} it's\n[project]\nname = 'x {deep_text}'\n",
        },
    )
    assert analyse(tmp_path).framework == "express"


def test_a_number_of_thousands_of_digits_is_invalid_json_not_a_crash(tmp_path: Path) -> None:
    write_files(tmp_path, {**FLASK, "package.json": '{"version": ' + "9" * 5000 + "}"})
    assert analyse(tmp_path).framework == "flask"


def test_huge_files_and_lines_are_read_only_up_to_the_bound(tmp_path: Path) -> None:
    line = "x = 1; " * (4 * 2**20 // 7)  # one 4 MiB line
    write_files(tmp_path, {**FLASK, "app.py": FLASK["app.py"] + line, "big.py": line})
    started = time.monotonic()
    analysis = analyse(tmp_path)
    assert time.monotonic() - started < 5
    assert analysis.framework == "flask" and analysis.port and analysis.port.value == 8080


def test_a_procfile_line_of_spaces_is_read_in_linear_time(tmp_path: Path) -> None:
    # `^web:\s*(.+?)\s*$` tried every split of this line: 571 s for 250,000 spaces.
    write_files(tmp_path, {**FLASK, "Procfile": "web: gunicorn" + " " * 250_000 + "x\n"})
    started = time.monotonic()
    analysis = analyse(tmp_path)
    assert time.monotonic() - started < 5
    assert analysis.start_command is not None and analysis.start_command.endswith(" x")


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (".env.example", "PORT=x" + "\t" * 250_000 + "y"),  # `(.*?)[ \t]*$`
        (".python-version", "3" * 250_000),  # `\d+\.\d+` retried from every digit
        ("runtime.txt", "python-" + "1" * 250_000 + ".x"),
    ],
    ids=["dotenv-blanks", "digits", "digits-then-dot"],
)
def test_long_lines_that_made_a_regex_backtrack_are_read_in_linear_time(
    tmp_path: Path, name: str, line: str
) -> None:
    write_files(tmp_path, {**FLASK, name: line + "\n"})
    started = time.monotonic()
    analysis = analyse(tmp_path)
    assert time.monotonic() - started < 5
    assert analysis.framework == "flask"


def test_a_procfile_web_line_of_only_blanks_is_no_command_in_linear_time(tmp_path: Path) -> None:
    write_files(tmp_path, {**FLASK, "Procfile": "web:" + " \t" * 125_000 + "\n"})
    started = time.monotonic()
    analysis = analyse(tmp_path)
    assert time.monotonic() - started < 5
    assert analysis.framework == "flask"


@pytest.mark.parametrize("word", ["a" * 250_000, "0" * 250_000])
def test_a_dockerfile_env_line_of_one_long_word_is_read_in_linear_time(
    tmp_path: Path, word: str
) -> None:
    dockerfile = f"FROM python:3.12\nENV {word}\nARG {word}x\nENV PORT=8080\nEXPOSE 8080\n"
    write_files(tmp_path, {**FLASK, "Dockerfile": dockerfile})
    started = time.monotonic()
    analysis = analyse(tmp_path)
    assert time.monotonic() - started < 5
    assert analysis.port is not None and analysis.port.value == 8080


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("helper.js", "const a = 1;" + " " * 250_000 + "\n"),  # `\(?\s*` from every blank
        ("boot.rb", 'ENV.fetch("A"' * 20_000 + "\n"),  # `[^)\n]*` from every ENV.fetch(
        ("cfg.py", 'os.environ.get("A"' * 20_000 + "\n"),  # `[^)]*` from every call
    ],
    ids=["js-blanks", "ruby-fetch", "python-get"],
)
def test_env_gated_bind_patterns_read_long_lines_in_linear_time(
    tmp_path: Path, name: str, text: str
) -> None:
    write_files(tmp_path, {**FLASK, name: text})
    started = time.monotonic()
    analysis = analyse(tmp_path)
    assert time.monotonic() - started < 5
    assert analysis.framework == "flask"
