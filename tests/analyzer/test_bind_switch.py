"""A bind that is 0.0.0.0 only when a platform variable is set: the deployment sets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.detect import analyze_repository

from .fixtures import write_files

NODE_RENDER = {
    "package.json": '{"name": "r", "scripts": {"start": "node server.js"}}\n',
    "server.js": (
        "const http = require('http');\n"
        "const port = process.env.PORT || 3000;\n"
        'const host = ("RENDER" in process.env) ? "0.0.0.0" : "localhost";\n'
        "http.createServer((q, r) => r.end('ok')).listen(port, host);\n"
    ),
}
PY_DYNO = {
    "main.py": (
        "import os\nfrom http.server import HTTPServer, SimpleHTTPRequestHandler\n\n"
        'host = "0.0.0.0" if os.environ.get("DYNO") else "127.0.0.1"\n'
        "HTTPServer((host, int(os.environ.get('PORT', 8000))), SimpleHTTPRequestHandler)"
        ".serve_forever()\n"
    ),
}
NODE_ENV = {
    "package.json": '{"name": "r", "scripts": {"start": "node app.js"}, '
    '"dependencies": {"express": "^4"}}\n',
    "app.js": (
        "const app = require('express')();\n"
        "const host = process.env.NODE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1';\n"
        "app.listen(process.env.PORT || 3000, host);\n"
    ),
}


@pytest.mark.parametrize(
    ("files", "name", "value", "where"),
    [
        (NODE_RENDER, "RENDER", "1", "server.js:3"),
        (PY_DYNO, "DYNO", "1", "main.py:4"),
        (NODE_ENV, "NODE_ENV", "production", "app.js:2"),
    ],
)
def test_the_variable_the_condition_reads_is_set(
    tmp_path: Path, files: dict[str, str], name: str, value: str, where: str
) -> None:
    write_files(tmp_path, files)
    analysis = analyze_repository(tmp_path, description="deploy it")
    assert analysis.description.env[name] == value
    assert (analysis.bind_address, analysis.binds_loopback) == ("0.0.0.0", False)
    assert any(r.startswith(where) and f"only when {name} is set" in r for r in analysis.reasons)


def test_a_value_the_description_sets_is_kept(tmp_path: Path) -> None:
    write_files(tmp_path, NODE_ENV)
    analysis = analyze_repository(tmp_path, description="deploy it, set NODE_ENV=staging")
    assert analysis.description.env["NODE_ENV"] == "staging"
