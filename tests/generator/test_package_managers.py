"""Package-manager versions and build tools that real repositories need (issue 20).

Each fixture is our own small repository reproducing a class the deploy sample showed: a
Yarn 2+ project, a pnpm lockfile older than the newest pnpm reads, and old Python pins that
import pkg_resources. The generated recipe's shell logic runs here, against stand-ins for
corepack and npm, so the test sees which version it would ask for and why.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

from services.analyzer.detect import analyze_repository
from services.generator.bundle import generate_bundle


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _dockerfile(root: Path) -> str:
    analysis = analyze_repository(root, description="deploy this app")
    return generate_bundle(analysis, job_id="pkgmgr")["Dockerfile"]


def _install_run(dockerfile: str) -> str:
    """The shell of the RUN step that installs the Node dependencies."""
    match = re.search(r"^RUN (export COREPACK_NPM_REGISTRY.*?)(?<!\\)\n", dockerfile, re.M | re.S)
    assert match, dockerfile
    return match.group(1)


def _run_with_stubs(script: str, cwd: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """Run ``script`` with corepack/npm/yarn/pnpm stand-ins that record their calls."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for tool in ("corepack", "yarn", "pnpm"):
        path = bin_dir / tool
        path.write_text(
            f'#!/bin/sh\necho "{tool} $* COREPACK_NPM_REGISTRY=$COREPACK_NPM_REGISTRY" >> {calls}\n'
            + ('[ "$1" = --version ] && echo 4.7.0\n' if tool == "yarn" else "")
            + "exit 0\n"
        )
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    npm = bin_dir / "npm"
    npm.write_text('#!/bin/sh\n[ "$*" = "config get registry" ] && echo http://npm.invalid/\n')
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        ["sh", "-ec", script], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout, calls.read_text().splitlines() if calls.exists() else []


_PNPM8_LOCK = (
    "lockfileVersion: '6.0'\n\nsettings:\n  autoInstallPeers: true\n\n"
    "dependencies:\n  ms:\n    specifier: 2.1.3\n    version: 2.1.3\n"
)
_SPA_PACKAGE = {
    "name": "blog",
    "type": "module",
    "scripts": {"dev": "astro dev", "build": "astro build"},
    "dependencies": {"astro": "^3.1.1"},
}


def _astro_site(root: Path, lock: str, package: dict[str, object]) -> Path:
    return _write(
        root,
        {
            "package.json": json.dumps(package),
            "pnpm-lock.yaml": lock,
            "astro.config.mjs": "export default {}\n",
            "src/pages/index.astro": "<h1>blog</h1>\n",
        },
    )


def test_pnpm8_lockfile_without_a_pin_installs_pnpm_8(tmp_path: Path) -> None:
    # The newest pnpm rejects a 6.0 lockfile (ERR_PNPM_BROKEN_LOCKFILE): the build asks
    # corepack for the major that wrote it, from the npm registry npm is configured with.
    repo = _astro_site(tmp_path / "repo", _PNPM8_LOCK, _SPA_PACKAGE)
    script = _install_run(_dockerfile(repo))
    stdout, calls = _run_with_stubs(script, repo, tmp_path)
    assert "corepack install -g pnpm@8 COREPACK_NPM_REGISTRY=http://npm.invalid" in calls
    assert "pnpm-lock.yaml:1:lockfileVersion: '6.0'" in stdout
    assert calls[-1].startswith("pnpm install --frozen-lockfile")


def test_pnpm_lockfile_versions_map_to_their_majors(tmp_path: Path) -> None:
    for lock_version, major in (("5.4", "7"), ("'9.0'", "10")):
        repo = _astro_site(
            tmp_path / f"repo{major}", f"lockfileVersion: {lock_version}\n", _SPA_PACKAGE
        )
        work = tmp_path / f"run{major}"
        work.mkdir()
        _, calls = _run_with_stubs(_install_run(_dockerfile(repo)), repo, work)
        assert any(c.startswith(f"corepack install -g pnpm@{major} ") for c in calls), calls


def test_pnpm_pinned_by_package_manager_is_left_to_corepack(tmp_path: Path) -> None:
    package = dict(_SPA_PACKAGE, packageManager="pnpm@8.15.9")
    repo = _astro_site(tmp_path / "repo", _PNPM8_LOCK, package)
    stdout, calls = _run_with_stubs(_install_run(_dockerfile(repo)), repo, tmp_path)
    assert not any(c.startswith("corepack install") for c in calls), calls
    assert "package.json:1:" in stdout


def _vue_yarn4(root: Path, *, pin: bool) -> Path:
    package: dict[str, object] = {
        "name": "sammy",
        "scripts": {"serve": "vue-cli-service serve", "build": "vue-cli-service build"},
        "dependencies": {"vue": "^3.2.0"},
        "devDependencies": {"@vue/cli-service": "^5.0.0"},
    }
    if pin:
        package["packageManager"] = "yarn@4.7.0"
    return _write(
        root,
        {
            "package.json": json.dumps(package, indent=2),
            "yarn.lock": "# generated\n\n__metadata:\n  version: 8\n  cacheKey: 10c0\n",
            ".yarnrc.yml": "nodeLinker: node-modules\n",
            "src/main.js": "import { createApp } from 'vue'\n",
            "public/index.html": "<div id=app></div>\n",
        },
    )


def test_yarn4_project_installs_immutable_with_corepack_on_the_npm_registry(
    tmp_path: Path,
) -> None:
    # Corepack fetches Yarn 2+ from Yarn's own host unless COREPACK_NPM_REGISTRY is set;
    # Yarn 2+ has no --frozen-lockfile/--production, and its .yarnrc.yml (node-modules
    # linker) must be in the image before the install.
    repo = _vue_yarn4(tmp_path / "repo", pin=True)
    text = _dockerfile(repo)
    assert "COPY package.json yarn.lock .yarnrc.yml ./" in text
    stdout, calls = _run_with_stubs(_install_run(text), repo, tmp_path)
    assert calls[0] == "corepack enable COREPACK_NPM_REGISTRY=http://npm.invalid"
    assert calls[-1] == "yarn install --immutable COREPACK_NPM_REGISTRY=http://npm.invalid"
    assert not any(c.startswith("corepack install") for c in calls)
    assert "Yarn 2+" in stdout


def test_berry_lockfile_without_a_pin_gets_the_yarn_that_wrote_it(tmp_path: Path) -> None:
    repo = _vue_yarn4(tmp_path / "repo", pin=False)
    _, calls = _run_with_stubs(_install_run(_dockerfile(repo)), repo, tmp_path)
    assert any(c.startswith("corepack install -g yarn@4 ") for c in calls), calls
    assert calls[-1].startswith("yarn install --immutable")


def test_yarn1_project_keeps_the_classic_install(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo",
        {
            "package.json": json.dumps({"name": "c", "scripts": {"start": "node server.js"}}),
            "yarn.lock": "# yarn lockfile v1\n",
            "server.js": "require('http').createServer((q, r) => r.end('ok')).listen(3000)\n",
        },
    )
    _, calls = _run_with_stubs(_install_run(_dockerfile(repo)), repo, tmp_path)
    assert calls[-2].startswith("yarn install --frozen-lockfile"), calls


def test_registry_from_the_build_environment_wins(tmp_path: Path) -> None:
    repo = _vue_yarn4(tmp_path / "repo", pin=True)
    script = "COREPACK_NPM_REGISTRY=http://mirror.invalid\n" + _install_run(_dockerfile(repo))
    _, calls = _run_with_stubs(script, repo, tmp_path)
    assert calls[0] == "corepack enable COREPACK_NPM_REGISTRY=http://mirror.invalid"


def test_python_build_adds_setuptools_when_an_installed_package_imports_pkg_resources(
    tmp_path: Path,
) -> None:
    repo = _write(
        tmp_path / "repo",
        {
            "requirements.txt": "Flask==2.1.1\ngunicorn==20.1.0\n",
            "app.py": "from flask import Flask\napp = Flask(__name__)\n",
        },
    )
    text = _dockerfile(repo)
    build_stage = text[: text.index("\nFROM ", text.index("AS build"))]
    # It ends the RUN that installs the requirements: no build step of its own.
    install = build_stage[build_stage.index("RUN /opt/venv/bin/pip install --no-cache-dir -r") :]
    assert "\nRUN " not in install
    step = install[install.index("if ! /opt/venv/bin/python -c 'import pkg_resources'") :]
    script = step.replace("/opt/venv", str(tmp_path / "venv"))
    site = tmp_path / "venv/lib/python3.13/site-packages/gunicorn"
    site.mkdir(parents=True)
    (site / "util.py").write_text("import os\nimport pkg_resources\n")
    bin_dir = tmp_path / "venv/bin"
    bin_dir.mkdir()
    calls = tmp_path / "pip-calls"
    (bin_dir / "python").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "pip").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    out = subprocess.run(
        ["sh", "-ec", script], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    assert "gunicorn/util.py" in out.stdout
    assert calls.read_text().strip() == "install --no-cache-dir setuptools<82"
    # Nothing imports it: no setuptools.
    (site / "util.py").write_text("import os\n")
    calls.unlink()
    subprocess.run(["sh", "-ec", script], check=True, capture_output=True)
    assert not calls.exists()
