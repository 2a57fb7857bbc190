"""The `bind` of the config file a gunicorn start command loads.

`gunicorn -c FILE app:app` (or `--config FILE`, or no flag at all: gunicorn loads
`./gunicorn.conf.py` when it exists) takes its address from that file's `bind = ...`, not
from the command line. Without reading it, such a command looks like bare gunicorn, which
binds 127.0.0.1:8000; the file's `bind = "0.0.0.0:8080"` is what the server really does.
A `-b`/`--bind` on the command line overrides the file, so the file is read only without one.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from shared.analysis import Evidence

from ._common import valid_port
from ._fs import RepoSnapshot, join
from ._model import evidence_at

__all__ = ["GunicornBind", "gunicorn_config_bind"]

# gunicorn loads this file from its working directory when no -c names another (20.0+).
DEFAULT_CONFIG = "gunicorn.conf.py"
_SERVER = re.compile(r"^(?:exec\s+)?(?:python3?\s+-m\s+)?gunicorn(?:\s|$)")
_BIND_FLAG = re.compile(r"(?:^|\s)(?:-b|--bind)(?:[=\s]|$)")
# A top-level `bind = ...` (a string, or a list whose first item is the one gunicorn binds
# first); its first string literal carries the address.
_BIND_LINE = re.compile(r"^bind\s*=\s*(?P<value>[^\n]*)", re.M)
_LITERAL = re.compile(r"""(?P<q>["'])(?P<text>[^"'\n]*)(?P=q)""")


@dataclass(frozen=True)
class GunicornBind:
    """What a gunicorn config file binds: its host and port, where either is a literal."""

    config: str  # the file, relative to the repository
    host: str | None
    port: int | None
    evidence: Evidence


def gunicorn_config_bind(
    snap: RepoSnapshot, app_root: str, command: str | None
) -> GunicornBind | None:
    """The `bind` of the config file a gunicorn start command loads, if it names one."""
    if not command or not _SERVER.match(command.strip()) or _BIND_FLAG.search(command):
        return None
    name = _config_argument(command)
    if name is None:
        name = DEFAULT_CONFIG
    elif name.startswith("python:"):
        return None  # a module on sys.path, not a file we can place
    rel = posixpath.normpath(join(app_root, name.removeprefix("file:")))
    if rel.startswith(("..", "/")):
        return None  # outside the repository: never read
    text = snap.read(rel)
    if text is None:
        return None
    line = _BIND_LINE.search(text)
    literal = _LITERAL.search(line.group("value")) if line else None
    if line is None or literal is None:
        return None
    address = literal.group("text")
    if address.startswith(("unix:", "fd://")) or ":" not in address:
        return None
    host, _, port_text = address.rpartition(":")
    return GunicornBind(
        config=rel,
        host=host,
        port=valid_port(port_text) if port_text.isdigit() else None,
        evidence=evidence_at(rel, text, line.start()),
    )


def _config_argument(command: str) -> str | None:
    """The value of -c/--config, or None when the command names no config file."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for i, word in enumerate(words):
        if word in ("-c", "--config") and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
        if word.startswith("-c") and len(word) > 2 and not word.startswith("--"):
            return word[2:]
    return None
