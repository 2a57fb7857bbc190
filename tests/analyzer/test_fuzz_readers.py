"""Issue 21 point 3: fuzz the analyzer's readers with generated hostile repositories.

Every manifest, config and source file a detector reads is filled with what breaks parsers
and regular expressions: deep brackets, alias bombs, numbers of thousands of digits, NUL and
invalid UTF-8, huge single lines of a repeated token after a realistic prefix, and
realistic files with hostile parts spliced in. Whatever the repository holds, the analysis
ends with a result or the project's own refusal (``DocumentRefused``), within a time and a
memory bound per repository.

In ``make test`` the run is short and seeded (the same inputs every run); ``make fuzz``
raises FUZZ_EXAMPLES, takes another FUZZ_SEED, and prints the figures docs/reliability.md
quotes.
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from services.analyzer.detect import analyze_repository
from shared.safeyaml import DocumentRefused

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
SEED = int(os.environ.get("FUZZ_SEED", "21"))
# Generous for a loaded 2-core machine: the point is "seconds, not forever" per repository.
SECONDS_PER_REPO = 10.0
PEAK_MIB_PER_REPO = 64

Files = dict[str, str | bytes]
FOLDERS = ("", "api", "apps/web")
YAML_NAMES = ("compose.yaml", "docker-compose.yml", "mkdocs.yml", "render.yaml", ".do/app.yaml")
JSON_NAMES = ("package.json", "composer.json", "deno.json", "deno.jsonc", "appsettings.json")
TOML_NAMES = ("pyproject.toml", "Cargo.toml", "Rocket.toml", "Pipfile")
TEXT_NAMES = (
    "requirements.txt",
    "setup.cfg",
    "manage.py",
    "app.py",
    "main.py",
    "go.mod",
    "main.go",
    "Gemfile",
    "config.ru",
    "config/routes.rb",
    "mix.exs",
    "pom.xml",
    "build.gradle",
    "app.csproj",
    "Program.cs",
    "index.php",
    "artisan",
    "index.html",
    "Dockerfile",
    "Procfile",
    "gunicorn.conf.py",
    ".python-version",
    "runtime.txt",
    "server.js",
    "index.ts",
    ".env.example",
    "README.md",
)
PREFIXES = (
    "web: ",
    "CMD ",
    "CMD [",
    "EXPOSE ",
    "ENV ",
    "ARG ",
    "app.run(",
    ".listen(",
    "PORT=",
    "port: ",
    "--port ",
    "--bind ",
    "require('",
    "import ",
    "from ",
    "gem '",
    "<port>",
    '"start": "',
    "services:\n  app:\n    ports: [",
    "[dependencies]\n",
    "a = ",
    'http.ListenAndServe("',
    "os.environ.get('",
    "process.env.",
    'getenv("',
    "FROM ",
    'python_version = "',
)
# Small real apps the hostile files are added to, so that the detectors go on to read them.
APPS: tuple[dict[str, str], ...] = (
    {},
    {
        "requirements.txt": "flask\n",
        "app.py": "from flask import Flask\napp = Flask(__name__)\napp.run(port=5000)\n",
    },
    {
        "package.json": '{"dependencies": {"express": "^4"}, "scripts": {"start": "node s.js"}}',
        "s.js": "require('express')().listen(process.env.PORT || 3000)\n",
    },
    {"Cargo.toml": '[package]\nname = "x"\n[dependencies]\naxum = "0.7"\n', "src/main.rs": ""},
    {"composer.json": '{"require": {"php": "^8.2"}}', "index.php": "<?php echo 1;\n"},
    {"deno.json": '{"tasks": {"start": "deno run main.ts"}}', "main.ts": "Deno.serve(() => 1)\n"},
    {"Dockerfile": 'FROM python:3.12\nEXPOSE 8080\nCMD ["python", "app.py"]\n'},
)
# Sizes at the edges as often as in between: deep enough for RecursionError, long enough
# to pass the 256 KiB read bound, numbers past int()'s 4300 digits.
DEPTHS = st.sampled_from([1, 64, 65, 1100, 5000]) | st.integers(0, 5000)
LENGTHS = st.sampled_from([1, 5000, 50_000, 300_000]) | st.integers(1, 300_000)


def _deep(openers: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda o, n, close: o * n + close * n,
        st.sampled_from(openers),
        DEPTHS,
        st.sampled_from(["", "]", "}", " "]),
    )


def _alias_bomb() -> st.SearchStrategy[str]:
    def bomb(levels: int, width: int, where: str) -> str:
        lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
        lines += [
            f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)
        ]
        top = f"*l{levels - 1}"
        tail = {
            "image": f"services:\n  app:\n    image: {top}\n",
            "env": f"services:\n  app:\n    build: .\n    environment:\n      A: {top}\n",
            "ports": f"services:\n  app:\n    build: .\n    ports: {top}\n",
            "merge": f"services:\n  app:\n    <<: {top}\n",
            "recursive": "services: &s\n  app: *s\n",
        }[where]
        return "\n".join(lines) + "\n" + tail

    return st.builds(
        bomb,
        st.sampled_from([2, 6, 9, 12]) | st.integers(1, 12),
        st.sampled_from([2, 9, 12]) | st.integers(1, 12),
        st.sampled_from(["image", "env", "ports", "merge", "recursive"]),
    )


def _long_line() -> st.SearchStrategy[str]:
    """A realistic start, one token repeated, and an ending: what makes a regex backtrack."""

    def line(prefix: str, token: str, length: int, end: str) -> str:
        return prefix + token * (length // len(token) + 1) + end

    tokens = st.sampled_from([" ", "\t", "a ", "a", ":", "0", "=", "-", "'", "."])
    return st.builds(
        line,
        st.sampled_from(PREFIXES),
        tokens | st.text(min_size=1, max_size=6),
        LENGTHS,
        st.sampled_from(["", "x", ")", "\n"]),
    )


def _spliced(bases: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda base, at, junk: base[:at] + junk + base[at:],
        st.sampled_from(bases),
        st.integers(0, 200),
        st.text(max_size=40) | _deep(["[", "{"]),
    )


_ANY = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    _long_line(),
    st.builds(
        lambda d: "a: " + d + "\n" + '{"v": ' + d + "}", st.text("0123456789", min_size=4400)
    ),
)
_APP_TEXTS = [text for app in APPS for text in app.values() if text]
FILES = st.one_of(
    st.tuples(st.sampled_from(YAML_NAMES), _alias_bomb() | _deep(["[", "{", "- ", "x: {"]) | _ANY),
    st.tuples(
        st.sampled_from(JSON_NAMES), _deep(["[", "{", '{"a":']) | _spliced(_APP_TEXTS) | _ANY
    ),
    st.tuples(st.sampled_from(TOML_NAMES), _deep(["a = [", "a = {b = ", "[[", "{"]) | _ANY),
    st.tuples(st.sampled_from(TEXT_NAMES), _ANY | _spliced(_APP_TEXTS) | _deep(["[", "("])),
)


def _repo(app: dict[str, str], folder: str, hostile: list[tuple[str, str | bytes]]) -> Files:
    """The app and the hostile files in one folder, so the detectors go on to read them."""
    files: Files = {**app, **dict(hostile)}
    return {(f"{folder}/{rel}" if folder else rel): c for rel, c in files.items()}


REPOS = st.builds(
    _repo,
    st.sampled_from(APPS),
    st.sampled_from(FOLDERS),
    st.lists(FILES, min_size=1, max_size=4),
)


@dataclass
class Figures:
    """What one fuzz run did, printed at its end."""

    tried: int = 0
    refused: int = 0
    crashes: set[str] = field(default_factory=set)
    slowest: float = 0.0
    peak_mib: float = 0.0


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8", errors="surrogatepass"))


def _analyse_one(files: dict[str, str | bytes], figures: Figures) -> None:
    figures.tried += 1
    with tempfile.TemporaryDirectory(prefix="fuzz-repo-") as tmp:
        _write(Path(tmp), files)
        tracemalloc.start()
        started = time.monotonic()
        try:
            analysis = analyze_repository(Path(tmp), description="deploy it")
            size = len(analysis.model_dump_json())
        except DocumentRefused as exc:
            figures.refused += 1
            assert exc.source in files, f"the refusal names {exc.source!r}, not a file"
            size = 0
        except Exception as exc:
            figures.crashes.add(f"{type(exc).__name__}: {str(exc)[:120]}")
            raise
        finally:
            took = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    figures.slowest = max(figures.slowest, took)
    figures.peak_mib = max(figures.peak_mib, peak)
    assert took < SECONDS_PER_REPO, f"{took:.1f}s for {sorted(files)}"
    assert peak < PEAK_MIB_PER_REPO, f"{peak:.0f} MiB for {sorted(files)}"
    assert size < 4 * 2**20, f"a {size}-byte analysis for {sorted(files)}"


def test_no_hostile_repository_crashes_or_runs_away_in_the_analyzer() -> None:
    figures = Figures()

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,  # the time bound is checked per repository, on our own clock
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(REPOS)
    def fuzz(files: dict[str, str | bytes]) -> None:
        _analyse_one(files, figures)

    started = time.monotonic()
    try:
        fuzz()
    finally:
        print(
            f"\nfuzz: {figures.tried} inputs tried, {figures.refused} refused, "
            f"crashes: {len(figures.crashes)} {sorted(figures.crashes)}, "
            f"{time.monotonic() - started:.0f}s, slowest {figures.slowest:.2f}s, "
            f"peak {figures.peak_mib:.1f} MiB, seed {SEED}"
        )
