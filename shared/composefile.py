"""A repository's compose file as `docker compose` reads it: the file, then its override.

`docker compose up` with no `-f` reads `compose.yaml` (or `compose.yml`, or the older
`docker-compose.y*ml`) and then, when it exists beside it, the matching
`*.override.y*ml`, merged on top. Repositories rely on this: the base file describes the
services and the override publishes the ports (the full-stack FastAPI template does). The
analyzer and the provisioner both read a compose project through `load_compose`, so the
port the analysis reports is the port the deploy publishes.

Merge rules (the Compose specification's, for the keys this project reads): mappings
merge key by key; `ports`, `expose`, `volumes`, `env_file`, `depends_on` (list form) and
`profiles` add the override's entries after the base's; `environment` and `labels` merge
as mappings whatever form each file uses; every other key (`image`, `command`, ...) is
replaced by the override's value.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from shared.safeyaml import load_untrusted_yaml

__all__ = [
    "COMPOSE_FILES",
    "ComposeDocument",
    "InvalidComposeYaml",
    "active_services",
    "load_compose",
    "merge_compose",
    "override_names",
]

# In the order `docker compose` looks for them.
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

_APPENDED = frozenset({"ports", "expose", "volumes", "env_file", "depends_on", "profiles"})
_MAPPINGS = frozenset({"environment", "labels"})


class InvalidComposeYaml(yaml.YAMLError):
    """One of a compose project's files is not valid YAML; `source` names which."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source} is not valid YAML: {detail}")
        self.source = source


def _load(text: str, source: str) -> Any:
    try:
        return load_untrusted_yaml(text, source=source)
    except yaml.YAMLError as exc:
        raise InvalidComposeYaml(source, str(exc)) from exc


@dataclass
class ComposeDocument:
    """The merged compose data and the files it came from (base first)."""

    data: dict[str, Any]
    files: list[str] = field(default_factory=list)
    # Per service: the file its `ports` were last set in (for evidence file:line).
    ports_from: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


def override_names(rel: str) -> list[str]:
    """The override files `docker compose` merges over `rel`, in the order it tries them."""
    folder, name = posixpath.split(rel)
    stem = name.rsplit(".", 1)[0]
    return [posixpath.join(folder, f"{stem}.override.{ext}") for ext in ("yaml", "yml")]


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            out[key] = val if sep else None
        return out
    return {}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    if isinstance(value, Mapping):  # depends_on's long form
        return list(value)
    return [value]


def _merge_service(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if key in _MAPPINGS:
            merged[key] = {**_as_mapping(old), **_as_mapping(value)}
        elif key == "depends_on" and (isinstance(old, Mapping) or isinstance(value, Mapping)):
            merged[key] = {**_as_mapping_deps(old), **_as_mapping_deps(value)}
        elif key in _APPENDED:
            merged[key] = _as_list(old) + [v for v in _as_list(value) if v not in _as_list(old)]
        elif isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = {**old, **value}
        else:
            merged[key] = value
    return merged


def _as_mapping_deps(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    return {str(v): {"condition": "service_started"} for v in _as_list(value)}


def merge_compose(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` merged on top of `base`, as `docker compose -f base -f over` merges them."""
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if key == "services" and isinstance(old, Mapping) and isinstance(value, Mapping):
            services = dict(old)
            for name, svc in value.items():
                prev = services.get(name)
                if isinstance(prev, Mapping) and isinstance(svc, Mapping):
                    services[name] = _merge_service(prev, svc)
                else:
                    services[name] = svc
            merged[key] = services
        elif isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = {**old, **value}
        else:
            merged[key] = value
    return merged


def active_services(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services `docker compose up` starts: those without a `profiles` list."""
    services = data.get("services")
    if not isinstance(services, Mapping):
        return {}
    return {
        str(name): dict(svc)
        for name, svc in services.items()
        if isinstance(svc, Mapping) and not svc.get("profiles")
    }


def load_compose(read: Callable[[str], str | None], rel: str) -> ComposeDocument | None:
    """Read `rel` and its override (if any) through `read`; None when `rel` is unreadable.

    Raises `InvalidComposeYaml` (a `yaml.YAMLError`) or `shared.safeyaml.DocumentRefused`,
    each naming the file, when either file is not acceptable YAML.
    """
    text = read(rel)
    if text is None:
        return None
    data = _load(text, rel)
    if not isinstance(data, dict):
        return ComposeDocument(data={}, files=[rel], texts={rel: text})
    doc = ComposeDocument(data=data, files=[rel], texts={rel: text})
    _note_ports(doc, data, rel)
    for name in override_names(rel):
        over_text = read(name)
        if over_text is None:
            continue
        over = _load(over_text, name)
        if isinstance(over, dict):
            doc.data = merge_compose(doc.data, over)
            doc.files.append(name)
            doc.texts[name] = over_text
            _note_ports(doc, over, name)
        break  # compose reads one override file
    return doc


def _note_ports(doc: ComposeDocument, data: Mapping[str, Any], rel: str) -> None:
    services = data.get("services")
    if isinstance(services, Mapping):
        for name, svc in services.items():
            if isinstance(svc, Mapping) and svc.get("ports"):
                doc.ports_from[str(name)] = rel
