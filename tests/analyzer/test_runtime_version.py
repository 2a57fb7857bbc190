"""The declared runtime version is read from every file real repositories declare it in."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.detect import analyze_repository

from .fixtures import write_files

FLASK = {
    "app.py": "from flask import Flask\napp = Flask(__name__)\n",
    "requirements.txt": "flask\n",
}
EXPRESS = {"server.js": "require('express')().listen(process.env.PORT || 3000)\n"}


def _package(extra: str = "") -> str:
    return '{"name": "x", "dependencies": {"express": "^4"}' + extra + "}\n"


@pytest.mark.parametrize(
    ("files", "version"),
    [
        ({".python-version": "3.13\n"}, "3.13"),
        ({"runtime.txt": "python-3.12.7\n"}, "3.12.7"),
        ({".tool-versions": "nodejs 22.1.0\npython 3.13.1\n"}, "3.13.1"),
        (
            {"pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.13"\n'},
            "3.13",
        ),
        (
            {"pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.12"\nflask = "*"\n'},
            "3.12",
        ),
        ({"Pipfile": '[requires]\npython_full_version = "3.13.1"\n'}, "3.13"),
    ],
)
def test_python_version(tmp_path: Path, files: dict[str, str], version: str) -> None:
    write_files(tmp_path, {**FLASK, **files})
    analysis = analyze_repository(tmp_path, description="deploy it")
    assert analysis.runtime_version == version


@pytest.mark.parametrize(
    ("files", "version"),
    [
        ({"package.json": _package(', "engines": {"node": "^22"}')}, "22"),
        ({"package.json": _package(', "volta": {"node": "24.1.0"}')}, "24.1.0"),
        ({"package.json": _package(), ".nvmrc": "lts/jod\n"}, "22"),
        ({"package.json": _package(), ".nvmrc": "v20.11.1\n"}, "20.11.1"),
        ({"package.json": _package(), ".tool-versions": "nodejs 22.1.0\n"}, "22.1.0"),
    ],
)
def test_node_version(tmp_path: Path, files: dict[str, str], version: str) -> None:
    write_files(tmp_path, {**EXPRESS, **files})
    assert analyze_repository(tmp_path, description="deploy it").runtime_version == version
