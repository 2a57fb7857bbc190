"""One walk over a checked-out repository, and bounded, symlink-safe reads of its files."""

from __future__ import annotations

import json
import logging
import os
import stat
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.safeyaml import DocumentRefused

__all__ = [
    "MAX_NESTING",
    "MAX_READ_BYTES",
    "TREE_DEPTH",
    "RepoSnapshot",
    "depth_of",
    "join",
    "load_json",
    "load_toml",
    "walk_repository",
]

logger = logging.getLogger(__name__)

MAX_READ_BYTES = 256 * 1024
# Manifests (package.json, composer.json, Cargo.toml…) are a handful of levels deep; the
# parsers recurse per level and a few thousand brackets raise RecursionError.
MAX_NESTING = 64
TREE_DEPTH = 4
# A safety valve: a repository with millions of files is not an app we can deploy, and the
# walk must stay bounded even then.
MAX_WALK_FILES = 1_000_000

# Never worth reading: dependencies, caches, VCS metadata, build caches.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "vendor",
        "venv",
        ".venv",
        "virtualenv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".output",
        ".gradle",
        ".idea",
        ".vscode",
        "bower_components",
        ".terraform",
        ".cache",
        "site-packages",
        ".bundle",
        ".parcel-cache",
        ".turbo",
        ".angular",
        ".eggs",
        ".dart_tool",
        ".elixir_ls",
    }
)


def _has_csproj(names: Iterable[str]) -> bool:
    return any(n.endswith((".csproj", ".fsproj")) for n in names)


# Build outputs are skipped only beside the manifest that produces them: a folder called
# "target" or "deps" is ordinary source anywhere else.
SKIP_IF_SIBLING: dict[str, Callable[[set[str]], bool]] = {
    "target": lambda s: "Cargo.toml" in s or "pom.xml" in s,
    "_build": lambda s: "mix.exs" in s,
    "deps": lambda s: "mix.exs" in s,
    "obj": _has_csproj,
    "bin": _has_csproj,
}


def join(base: str, name: str) -> str:
    """Join repository-relative paths, where the root is ''."""
    return f"{base}/{name}" if base else name


def depth_of(rel: str) -> int:
    """Number of path components of a repository-relative path ('' is 0)."""
    return rel.count("/") + 1 if rel else 0


@dataclass
class RepoSnapshot:
    """What one walk saw: the tree to depth 4, every file per directory, and a read cache."""

    root: str
    files_by_dir: dict[str, list[str]] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    tree: list[str] = field(default_factory=list)
    tree_truncated: bool = False
    file_count: int = 0
    skipped_symlinks: int = 0
    walk_truncated: bool = False
    _cache: dict[str, str | None] = field(default_factory=dict)

    def has_file(self, rel: str) -> bool:
        """True when the walk saw a regular file at this repository-relative path."""
        d, _, name = rel.rpartition("/")
        names = self.files_by_dir.get(d)
        return names is not None and name in names

    def read(self, rel: str, limit: int = MAX_READ_BYTES) -> str | None:
        """Read a text file the walk saw; None for anything else (symlink, binary, missing)."""
        if rel in self._cache:
            return self._cache[rel]
        text = self._read(rel, limit) if self.has_file(rel) else None
        self._cache[rel] = text
        return text

    def _read(self, rel: str, limit: int) -> str | None:
        path = os.path.join(self.root, rel)
        # O_NOFOLLOW: the walk skipped symlinks, but the tree is untrusted and could change
        # under us; O_NONBLOCK: a FIFO planted in the tree must not hang the analyzer.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks: list[bytes] = []
            remaining = limit
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError:
            return None
        finally:
            os.close(fd)
        data = b"".join(chunks)
        if b"\x00" in data[:8192]:
            return None
        return data.decode("utf-8", errors="replace")


def walk_repository(root: Path, *, max_tree_entries: int) -> RepoSnapshot:
    """Walk the repository once with os.scandir, never following or reading symlinks."""
    snap = RepoSnapshot(root=os.fspath(root))
    tree: list[str] = []
    stack: list[tuple[str, str, int]] = [(snap.root, "", 0)]
    while stack:
        abs_dir, rel_dir, depth = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as exc:
            logger.debug("cannot list %s: %s", rel_dir or ".", exc)
            continue
        files: list[str] = []
        subdirs: list[str] = []
        for entry in entries:
            try:
                if entry.is_symlink():
                    snap.skipped_symlinks += 1
                elif entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    files.append(entry.name)
            except OSError:
                continue
        if rel_dir and "pyvenv.cfg" in files:
            continue  # a committed virtualenv: thousands of files that are not the app
        files.sort()
        snap.files_by_dir[rel_dir] = files
        snap.dirs.append(rel_dir)
        snap.file_count += len(files)
        child_depth = depth + 1
        names = set(files)
        kept: list[str] = []
        for name in subdirs:
            if name in SKIP_DIRS:
                continue
            check = SKIP_IF_SIBLING.get(name)
            if check is not None and check(names):
                continue
            kept.append(name)
        if child_depth <= TREE_DEPTH:
            tree.extend(join(rel_dir, n) for n in files)
            tree.extend(join(rel_dir, n) + "/" for n in kept)
        if snap.file_count >= MAX_WALK_FILES:
            snap.walk_truncated = True
            break
        for name in sorted(kept, reverse=True):
            stack.append((os.path.join(abs_dir, name), join(rel_dir, name), child_depth))
    tree.sort()
    if len(tree) > max_tree_entries:
        snap.tree_truncated = True
        tree = tree[:max_tree_entries]
    snap.tree = tree
    return snap


def _nesting(text: str, quotes: str, comment: str | None) -> int:
    """The deepest bracket nesting outside strings (and comments), found in one pass."""
    depth = deepest = 0
    quote: str | None = None
    escaped = in_comment = False
    for ch in text:
        if in_comment:
            in_comment = ch != "\n"
        elif quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in quotes:
            quote = ch
        elif ch == comment:
            in_comment = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _refuse_deep(text: str, source: str, quotes: str, comment: str | None) -> None:
    few = text.count("[") + text.count("{") <= MAX_NESTING  # most manifests: no scan at all
    if not few and _nesting(text, quotes, comment) > MAX_NESTING:
        raise DocumentRefused(source, f"nested deeper than {MAX_NESTING} levels")


def load_json(text: str, *, source: str) -> Any | None:
    """Parse a repository's JSON file; None when it is not valid JSON.

    Raises ``DocumentRefused`` for nesting the parser would die of (RecursionError). A
    number of thousands of digits is a ValueError that is not a JSONDecodeError: invalid.
    """
    _refuse_deep(text, source, '"', None)
    try:
        return json.loads(text)
    except ValueError:
        return None


def load_toml(text: str, *, source: str) -> dict[str, Any] | None:
    """Parse a repository's TOML file; None when it is not valid TOML.

    Raises ``DocumentRefused`` for nesting past MAX_NESTING (tomllib recurses per level).
    """
    _refuse_deep(text, source, "\"'", "#")
    try:
        return tomllib.loads(text)
    except ValueError:  # TOMLDecodeError, and values it cannot build
        return None
