"""Stages know each other only through shared/: the import contracts hold and cover every stage."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_no_stage_imports_another_and_shared_imports_no_stage() -> None:
    run = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 2 kept, 0 broken." in run.stdout


def test_every_package_under_services_is_in_the_independence_contract() -> None:
    packages = {
        f"services.{p.name}" for p in (ROOT / "services").iterdir() if (p / "__init__.py").is_file()
    }
    listed = set(_contracts()["stages-independent"]["modules"])
    assert packages == listed, f"list {sorted(packages - listed)} in pyproject [tool.importlinter]"

