"""Start and build commands that a hosting platform's own config file names.

Railway (`railway.json`, `railway.toml`: `deploy.startCommand`, `build.buildCommand`) and
Nixpacks (`nixpacks.toml`: `[start] cmd`) hold the author's command as a Procfile does, so
it ranks as a Procfile's: above what the stack implies. So do the service lists of a
Render blueprint (`render.yaml`: a `type: web` service's `startCommand`, `buildCommand`,
in its `rootDir`) and of a DigitalOcean app spec (`.do/app.yaml`: a service's
`run_command`, `build_command`, in its `source_dir`); both sit at the repository's root.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

import yaml

from shared.safeyaml import load_untrusted_yaml

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
# (file, the key naming the service's folder, start key, build key); each file lists
# services, of which the HTTP ones have a start command.
_SERVICE_LISTS: tuple[tuple[str, str, str, str], ...] = (
    ("render.yaml", "rootDir", "startCommand", "buildCommand"),
    (".do/app.yaml", "source_dir", "run_command", "build_command"),
)


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
    for name, dir_key, start_key, build_key in _SERVICE_LISTS:
        listed = _service_list_command(snap, app_root, name, dir_key, start_key, build_key)
        if listed is not None:
            return listed
    return None


def _service_list_command(
    snap: RepoSnapshot, app_root: str, name: str, dir_key: str, start_key: str, build_key: str
) -> ProcfileFinding | None:
    """The start command of the first web service, in the app's folder, that a
    service-list config (render.yaml, .do/app.yaml) names."""
    text = snap.read(name)
    if text is None:
        return None
    try:
        doc = load_untrusted_yaml(text, source=name)
        # The same text as nodes, for the line each command is written on (bounded above).
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None  # not valid YAML: the platform would refuse it too
    services = doc.get("services") if isinstance(doc, dict) else None
    nodes = _mapping_value(tree, "services")
    for index, service in enumerate(services if isinstance(services, list) else []):
        if not isinstance(service, dict) or not _serves_http(name, service):
            continue
        folder = service.get(dir_key) or ""
        if not isinstance(folder, str) or _folder(folder) != _folder(app_root):
            continue
        cmd = _command({"s": service}, "s", start_key)
        if cmd is None:
            continue
        node = nodes.value[index] if isinstance(nodes, yaml.SequenceNode) else None
        label = f"{name}'s service `{service.get('name', '?')}` ({start_key})"
        found = command_finding(cmd, evidence_at(name, text, _offset(node, start_key)), label)
        build = _command({"s": service}, "s", build_key)
        if build is not None:
            found.build_command = build
            found.build_evidence = evidence_at(name, text, _offset(node, build_key))
        return found
    return None


def _mapping_value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if getattr(k, "value", None) == key), None)


def _offset(service: yaml.Node | None, key: str) -> int:
    """Where a service's key is written, for evidence; the file's start when unknown."""
    value = _mapping_value(service, key)
    return value.start_mark.index if value is not None else 0


def _serves_http(name: str, service: dict[str, Any]) -> bool:
    """A Render service of type web (not a static site); every DigitalOcean service (its
    workers and static sites are listed apart, under `workers` and `static_sites`)."""
    if name != "render.yaml":
        return True
    runtime = service.get("runtime") or service.get("env")
    return service.get("type") == "web" and runtime != "static"


def _folder(path: str) -> str:
    norm = posixpath.normpath(path.strip().strip("/") or ".")
    return "" if norm == "." else norm


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
