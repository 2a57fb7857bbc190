"""Render this machine's pip and npm settings into files baked into the local base images.

Usage: python3 render_config.py OUT_DIR

Writes OUT_DIR/pip.conf and OUT_DIR/npmrc. Only settings that mean the same inside a
container are kept: index URLs, trusted hosts, timeouts, proxies, registries. Paths on
this machine's disk (find-links, constraint files, file:// indexes) are dropped because
they do not exist in the image; the CA setting is pointed at the bundle baked into it.
npm auth tokens are never copied into an image layer.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PIP_KEYS = {
    "index-url",
    "extra-index-url",
    "trusted-host",
    "timeout",
    "default-timeout",
    "retries",
    "proxy",
    "no-build-isolation",
    "prefer-binary",
    "only-binary",
}
NPM_KEYS = {"registry", "strict-ssl", "proxy", "https-proxy", "noproxy", "fetch-retries"}


def _is_local(value: str) -> bool:
    return value.startswith(("file:", "/", "~", "."))


def pip_settings() -> dict[str, str]:
    """Merged pip configuration of this machine (files and PIP_* environment)."""
    settings: dict[str, str] = {}
    python = shutil.which("python3") or sys.executable
    try:
        listing = subprocess.run(
            [python, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    # Lines look like  global.index-url='https://...'  or  :env:.timeout='180'.
    # Later lines win, and pip lists files in increasing priority with :env: first;
    # environment beats files in pip itself, so apply :env: entries last.
    env_entries: list[tuple[str, str]] = []
    for line in listing.splitlines():
        scope_key, sep, raw = line.partition("=")
        if not sep:
            continue
        scope, _, key = scope_key.rpartition(".")
        try:
            value = str(ast.literal_eval(raw))
        except (ValueError, SyntaxError):
            value = raw.strip("'\"")
        if scope == ":env:":
            env_entries.append((key, value))
        elif scope in {"global", "install", "download"}:
            settings[key] = value
    settings.update(env_entries)
    kept: dict[str, str] = {}
    for key, value in settings.items():
        if key not in PIP_KEYS:
            continue
        words = [w for w in value.split() if not _is_local(w)]
        if words:
            kept[key] = " ".join(words)
    return kept


def npm_settings() -> dict[str, str]:
    """Registry-related npm settings of this machine, without credentials."""
    settings: dict[str, str] = {}
    candidates = [Path("/etc/npmrc"), Path("/usr/etc/npmrc"), Path.home() / ".npmrc"]
    if os.environ.get("NPM_CONFIG_USERCONFIG"):
        candidates.append(Path(os.environ["NPM_CONFIG_USERCONFIG"]))
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.strip().partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key.startswith(("#", ";")):
                continue
            if key in NPM_KEYS or (key.startswith("@") and key.endswith(":registry")):
                settings[key] = value
    for key in NPM_KEYS:
        env_value = os.environ.get(f"NPM_CONFIG_{key.upper().replace('-', '_')}")
        if env_value:
            settings[key] = env_value
    return settings


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    pip = {"cert": IMAGE_CA_BUNDLE, **pip_settings()}
    (out / "pip.conf").write_text(
        "[global]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(pip.items()))
    )
    npm = {"cafile": IMAGE_CA_BUNDLE, **npm_settings()}
    (out / "npmrc").write_text("".join(f"{k}={v}\n" for k, v in sorted(npm.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
