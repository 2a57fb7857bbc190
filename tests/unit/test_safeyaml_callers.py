"""Issue 21 point 3: an alias-bomb compose.yaml from an LLM never leaves the generator."""

from __future__ import annotations

import pytest

from services.generator.bundle.validate import validate_bundle
from services.provisioner.handlers import build_spec
from shared.safeyaml import DocumentRefused
from tests.analyzer.test_hostile_input import alias_bomb


def test_an_alias_bomb_compose_is_a_violation_naming_the_file() -> None:
    violations = validate_bundle({"compose.yaml": alias_bomb()})
    assert [v.rule for v in violations] == ["compose-invalid"]
    assert "compose.yaml: refused: YAML aliases expand" in violations[0].message


def test_the_provisioner_refuses_an_alias_bomb_compose_too() -> None:
    with pytest.raises(DocumentRefused, match="alias bomb"):
        build_spec({"compose.yaml": alias_bomb()}, 8080)
