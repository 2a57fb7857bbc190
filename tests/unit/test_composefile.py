"""Compose files read as `docker compose up` reads them: the file, then its override."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.capabilities.compose_project import ComposeError, load_compose_project
from shared.composefile import active_services, load_compose, merge_compose, override_names


def test_override_names_follow_the_base_file_name() -> None:
    assert override_names("compose.yml") == ["compose.override.yaml", "compose.override.yml"]
    assert override_names("deploy/docker-compose.yaml") == [
        "deploy/docker-compose.override.yaml",
        "deploy/docker-compose.override.yml",
    ]


def test_merge_adds_ports_merges_environment_and_replaces_the_rest() -> None:
    base = {
        "services": {
            "api": {
                "image": "api:1",
                "ports": ["8000:8000"],
                "environment": ["A=1", "B=2"],
                "command": ["serve"],
                "build": {"context": ".", "dockerfile": "Dockerfile"},
            },
            "db": {"image": "postgres:16"},
        },
        "volumes": {"data": {}},
    }
    over = {
        "services": {
            "api": {
                "ports": ["8000:8000", "9229:9229"],
                "environment": {"B": "3", "C": "4"},
                "command": ["serve", "--reload"],
                "build": {"target": "dev"},
            },
            "mail": {"image": "mailer"},
        },
        "volumes": {"cache": {}},
    }
    merged = merge_compose(base, over)
    api = merged["services"]["api"]
    assert api["ports"] == ["8000:8000", "9229:9229"]
    assert api["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert api["command"] == ["serve", "--reload"]
    assert api["build"] == {"context": ".", "dockerfile": "Dockerfile", "target": "dev"}
    assert api["image"] == "api:1"
    assert set(merged["services"]) == {"api", "db", "mail"}
    assert set(merged["volumes"]) == {"data", "cache"}


def test_depends_on_merges_across_list_and_mapping_forms() -> None:
    base = {"services": {"api": {"image": "a", "depends_on": ["db"]}}}
    over = {"services": {"api": {"depends_on": {"cache": {"condition": "service_healthy"}}}}}
    deps = merge_compose(base, over)["services"]["api"]["depends_on"]
    assert deps == {
        "db": {"condition": "service_started"},
        "cache": {"condition": "service_healthy"},
    }


def test_only_the_first_override_file_is_read_and_profiles_are_left_out() -> None:
    files = {
        "compose.yaml": "services:\n  web: {image: w}\n  test: {image: t, profiles: [ci]}\n",
        "compose.override.yaml": "services:\n  web: {ports: ['80:80']}\n",
        "compose.override.yml": "services:\n  web: {ports: ['81:81']}\n",
    }
    doc = load_compose(files.get, "compose.yaml")
    assert doc is not None
    assert doc.files == ["compose.yaml", "compose.override.yaml"]
    assert doc.ports_from == {"web": "compose.override.yaml"}
    assert list(active_services(doc.data)) == ["web"]
    assert active_services(doc.data)["web"]["ports"] == ["80:80"]


def test_an_invalid_override_is_named(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  web: {build: .}\n")
    (tmp_path / "compose.override.yml").write_text("services: [unclosed\n")
    with pytest.raises(ComposeError, match=r"compose\.override\.yml"):
        load_compose_project(tmp_path, "compose.yml")


def test_the_provisioner_deploys_what_the_override_publishes(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text(
        "services:\n"
        "  api:\n    build: ./api\n"
        "  web:\n    build: ./web\n    depends_on: [api]\n"
        "  e2e:\n    build: ./e2e\n    profiles: [test]\n"
    )
    (tmp_path / "compose.override.yml").write_text(
        "services:\n  web:\n    ports: ['8080:80']\n    environment: {API: http://api:8000}\n"
    )
    services = load_compose_project(tmp_path, "compose.yml")
    assert [s.name for s in services] == ["api", "web"]
    web = services[1]
    assert web.published == {80: 8080} and web.environment["API"] == "http://api:8000"
