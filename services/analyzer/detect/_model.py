"""What one ecosystem detector concludes about one app folder, and the view it reads through."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from shared.analysis import Evidence

from ._fs import RepoSnapshot, depth_of, join

__all__ = [
    "KIND_RANK",
    "NOT_APP_DIRS",
    "SOURCE_SKIP_DIRS",
    "AppContext",
    "AppFinding",
    "AppKind",
    "BindHit",
    "EnvHit",
    "PortHit",
    "PortSource",
    "ServiceHit",
    "evidence_at",
    "is_test_file",
    "line_of",
]

# Strongest evidence first: the analyzer ranks conflicting ports in this order.
PortSource = Literal[
    "description", "dockerfile", "compose", "code", "cli", "procfile", "framework-default"
]
# server: a process that serves HTTP itself; ssr: a JS meta-framework server; spa: a
# client bundle served as static files; static: plain files; docker: only a Dockerfile.
AppKind = Literal["server", "ssr", "spa", "static", "docker", "none"]
KIND_RANK: dict[str, int] = {"server": 5, "ssr": 4, "docker": 3, "spa": 2, "static": 1, "none": 0}

# Tests, examples, fixtures and build output: never the app to deploy, whatever they hold.
NOT_APP_DIRS = frozenset(
    {
        "test",
        "tests",
        "__tests__",
        "spec",
        "specs",
        "example",
        "examples",
        "sample",
        "samples",
        "fixtures",
        "testdata",
        "e2e",
        "migrations",
        "scripts",
        "dist",
        "build",
        "public",
        "static",
        "assets",
    }
)
# Docs, benchmarks, tooling and vendored code, too, often contain small servers (or numbers)
# that are not the app's: none of them may decide what the app is or where it listens.
SOURCE_SKIP_DIRS = NOT_APP_DIRS | {
    "docs",
    "doc",
    "benchmarks",
    "benchmark",
    "bench",
    "extras",
    "tools",
    "tooling",
    "contrib",
    "third_party",
    "vendored",
    "_vendor",
}
# Test files that sit beside the code (Go's x_test.go, Rust's tests.rs, JS's x.test.ts).
_TEST_FILE = re.compile(
    r"^(?:test_\w+\.py|\w+_test\.(?:py|go|rs|rb|exs)|conftest\.py|tests?\.(?:py|rs)"
    r"|[\w.-]+\.(?:test|spec)\.[cm]?[jt]sx?|\w+_spec\.rb|\w+Tests?\.(?:java|kt|cs|php))$"
)


def is_test_file(name: str) -> bool:
    """True for a file name that marks a test, wherever it sits."""
    return _TEST_FILE.match(name) is not None


def line_of(text: str, index: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, index) + 1


def evidence_at(file: str, text: str, index: int) -> Evidence:
    """Evidence pointing at the line that holds offset `index`."""
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    line = text[start : end if end != -1 else len(text)].strip()
    return Evidence(file=file, line=line_of(text, index), text=line[:200])


@dataclass
class PortHit:
    """A port found somewhere, with where it came from."""

    value: int
    source: PortSource
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class BindHit:
    """An address the app binds, as the code or the start command states it."""

    address: str
    evidence: Evidence


@dataclass
class EnvHit:
    """One read of an environment variable."""

    name: str
    default: str | None
    has_default: bool
    evidence: Evidence


@dataclass
class ServiceHit:
    """A backing service suggested by a driver, an env name or a compose service."""

    kind: str
    evidence: Evidence


@dataclass
class AppFinding:
    """One ecosystem's view of one app folder."""

    root: str
    language: str
    framework: str | None = None
    kind: AppKind = "none"
    evidence: list[Evidence] = field(default_factory=list)
    ports: list[PortHit] = field(default_factory=list)
    default_port: int | None = None
    default_port_reason: str = ""
    binds: list[BindHit] = field(default_factory=list)
    # May contain "{port}", filled in once the port is decided.
    start_command: str | None = None
    start_reason: str = ""
    build_command: str | None = None
    runtime_version: str | None = None
    runtime_evidence: Evidence | None = None
    package_manager: str | None = None
    static_dir: str | None = None
    app_object: str | None = None  # `module:name` for a WSGI/ASGI server
    env: list[EnvHit] = field(default_factory=list)
    services: list[ServiceHit] = field(default_factory=list)
    health: list[tuple[str, Evidence]] = field(default_factory=list)
    non_service: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def is_web(self) -> bool:
        """True for anything that answers HTTP once deployed."""
        return self.kind != "none"

    @property
    def display_root(self) -> str:
        """The root as users write it ('.' for the repository root)."""
        return self.root or "."


class AppContext:
    """Read-only view of one app folder inside the snapshot."""

    def __init__(self, snap: RepoSnapshot, root: str, nested_roots: Iterable[str] = ()) -> None:
        self.snap = snap
        self.root = root
        self._nested = tuple(r + "/" for r in nested_roots if r != root)
        self._dirs: list[str] | None = None
        self.names: list[str] = snap.files_by_dir.get(root, [])
        self.name_set = frozenset(self.names)

    def rel(self, name: str) -> str:
        """Repository-relative path of a path relative to the app root."""
        return join(self.root, name)

    def local(self, rel: str) -> str:
        """Path relative to the app root of a repository-relative path."""
        return rel[len(self.root) + 1 :] if self.root else rel

    def has(self, name: str) -> bool:
        """True when the app folder holds this file (path relative to the app root)."""
        return self.snap.has_file(self.rel(name))

    def read(self, name: str) -> str | None:
        """Text of a file relative to the app root, or None."""
        return self.snap.read(self.rel(name))

    def subdirs(self, max_depth: int = 4) -> list[str]:
        """App folders below the root (repository-relative), shallow first, skipping tests."""
        if self._dirs is None:
            base = depth_of(self.root)
            prefix = self.root + "/" if self.root else ""
            found: list[tuple[int, str]] = []
            for d in self.snap.dirs:
                if d == self.root:
                    found.append((0, d))
                    continue
                if prefix and not d.startswith(prefix):
                    continue
                rel_depth = depth_of(d) - base
                if rel_depth > max_depth:
                    continue
                if self._nested and (d + "/").startswith(self._nested):
                    continue
                parts = d[len(prefix) :].split("/")
                if any(p in SOURCE_SKIP_DIRS or p.startswith(".") for p in parts):
                    continue
                found.append((rel_depth, d))
            found.sort()
            self._dirs = [d for _, d in found]
        return self._dirs

    def sources(
        self,
        suffixes: tuple[str, ...],
        *,
        priority: tuple[str, ...] = (),
        limit: int = 40,
        max_depth: int = 4,
    ) -> list[tuple[str, str]]:
        """Read a bounded number of source files, entry-point names first then shallow ones."""
        # Work per folder, not per file: a large repository has tens of thousands of files
        # with the right suffix, and only `limit` of them are ever read.
        by_base: dict[str, list[tuple[int, str]]] = {}
        for i, name in enumerate(priority):
            folder, _, base = name.rpartition("/")
            if base.endswith(suffixes):
                by_base.setdefault(base, []).append((i, folder if "/" in name else "*"))
        picked: list[tuple[int, int, str]] = []
        for d in self.subdirs(max_depth):
            local_dir = self.local(d) if d != self.root else ""
            depth = local_dir.count("/") + 1 if local_dir else 0
            for n in self.snap.files_by_dir.get(d, ()):
                wanted = by_base.get(n)
                if wanted is None:
                    continue
                for i, folder in wanted:
                    if folder in ("*", local_dir):
                        picked.append((i, depth, join(d, n)))
        picked.sort()
        ordered = list(dict.fromkeys(rel for _, _, rel in picked))
        if len(ordered) < limit:
            chosen = set(ordered)
            for d in self.subdirs(max_depth):
                for n in self.snap.files_by_dir.get(d, ()):
                    rel = join(d, n)
                    if n.endswith(suffixes) and rel not in chosen and not is_test_file(n):
                        ordered.append(rel)
                        if len(ordered) >= limit:
                            break
                if len(ordered) >= limit:
                    break
        out: list[tuple[str, str]] = []
        for rel in ordered[:limit]:
            text = self.snap.read(rel)
            if text is not None:
                out.append((rel, text))
        return out
