"""Start and build commands that a hosting platform's own config file names.

Railway (`railway.json`, `railway.toml`: `deploy.startCommand`, `build.buildCommand`) and
Nixpacks (`nixpacks.toml`: `[start] cmd`) hold the author's command as a Procfile does, so
it ranks as a Procfile's: above what the stack implies.
"""

from __future__ import annotations

import re
from typing import Any

from ._fs import RepoSnapshot, join, load_json, load_toml
from ._model import evidence_at
from .docker import ProcfileFinding, command_finding

__all__ = ["detect_platform_config"]

# (file, section, start key, build key); a JSON file's keys are found quoted.
_CONFIGS: tuple[tuple[str, str, str, str | None], ...] = (
    ("railway.json", "deploy", "startCommand", "buildCommand"),
    ("railway.toml", "deploy", "startCommand", "buildCommand"),
    ("nixpacks.toml", "start", "cmd", None),
)
# The build key lives in its own section.
_BUILD_SECTION = "build"


def detect_platform_config(snap: RepoSnapshot, app_root: str) -> ProcfileFinding | None:
    """The start command a platform config names in the app (or the repo root), if any."""
    for folder in dict.fromkeys((app_root, "")):
        for name, section, start_key, build_key in _CONFIGS:
            rel = join(folder, name)
            text = snap.read(rel)
            if text is None:
                continue
            doc = _load(name, text, rel)
            cmd = _command(doc, section, start_key)
            if cmd is None:
                continue
            found = command_finding(
                cmd,
                evidence_at(rel, text, _key_offset(text, name, section, start_key)),
                f"{name}'s {section}.{start_key}",
            )
            build = _command(doc, _BUILD_SECTION, build_key) if build_key else None
            if build is not None and build_key is not None:
                found.build_command = build
                found.build_evidence = evidence_at(
                    rel, text, _key_offset(text, name, _BUILD_SECTION, build_key)
                )
            return found
    return None


def _load(name: str, text: str, rel: str) -> Any:
    return load_json(text, source=rel) if name.endswith(".json") else load_toml(text, source=rel)


def _command(doc: Any, section: str, key: str) -> str | None:
    """A one-line, non-empty string at doc[section][key]; anything else names no command."""
    table = doc.get(section) if isinstance(doc, dict) else None
    value = table.get(key) if isinstance(table, dict) else None
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        return None
    return value.strip()


def _key_offset(text: str, name: str, section: str, key: str) -> int:
    """Where the key is written, for evidence; the file's start when it cannot be placed."""
    if name.endswith(".json"):
        m = re.search(rf'"{key}"[ \t\r\n]*:', text)
        return m.start() if m else 0
    header = re.search(rf"^[ \t]*\[[ \t]*{section}[ \t]*\][ \t]*(?:#[^\n]*)?$", text, re.M)
    dotted = re.search(rf"^[ \t]*{section}\.{key}[ \t]*=", text, re.M)
    if dotted is not None:
        return dotted.start()
    if header is not None:
        m = re.compile(rf"^[ \t]*{key}[ \t]*=", re.M).search(text, header.end())
        if m is not None:
            return m.start()
    return 0
