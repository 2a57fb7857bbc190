"""Quoting helpers: every piece of analysis text crosses into a file through one of these.

The analysis is built from a repository and a free-text description, so any field may
carry hostile text. Nothing from it is written into a Dockerfile, compose file, Makefile
or Terraform without passing through a function here.
"""

from __future__ import annotations

import json
import re
import shlex

__all__ = [
    "ENV_NAME_RE",
    "JOB_ID_RE",
    "hcl_string",
    "is_valid_env_name",
    "json_array",
    "render_shell_command",
    "safe_health_path",
    "single_line",
]

ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
# Job ids end up in resource names, tags, Kubernetes labels and compose project names;
# this is the intersection of what all of those accept.
JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")

# Expansions a start command may keep: $NAME, ${NAME} and ${NAME:-simple-default}.
_EXPANSION_RE = re.compile(
    r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[A-Za-z0-9._:/@-]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_HEALTH_PATH_RE = re.compile(r"/[A-Za-z0-9._~/%-]*")


def is_valid_env_name(name: str) -> bool:
    """True when ``name`` is a conventional environment variable name."""
    return ENV_NAME_RE.fullmatch(name) is not None


def single_line(text: str, *, limit: int = 300) -> str:
    """Collapse control characters and runs of whitespace so text cannot start a new line."""
    flat = " ".join(_CONTROL_RE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def safe_health_path(path: str | None) -> str:
    """Return ``path`` when it is a plain URL path, else ``/``."""
    if path and len(path) <= 200 and _HEALTH_PATH_RE.fullmatch(path):
        return path
    return "/"


def json_array(items: list[str]) -> str:
    """JSON-encode an exec-form argument list (Dockerfile CMD/HEALTHCHECK)."""
    # ensure_ascii keeps every control character as an escape, so the array stays on
    # one Dockerfile line whatever the input.
    return json.dumps(items, ensure_ascii=True)


def _quote_word(word: str) -> str:
    """Quote one word, leaving only the whitelisted variable expansions live."""
    parts: list[str] = []
    pos = 0
    for match in _EXPANSION_RE.finditer(word):
        if match.start() > pos:
            parts.append(shlex.quote(word[pos : match.start()]))
        parts.append(f'"{match.group(0)}"')
        pos = match.end()
    if pos < len(word) or not parts:
        parts.append(shlex.quote(word[pos:]))
    return "".join(parts)


def render_shell_command(command: str | None) -> str | None:
    """Re-quote a start/build command for ``sh -c``; None when it is not a plain command.

    Only simple commands joined by ``&&`` survive, every word is quoted, and the only
    shell syntax left live is ``$NAME``-style expansion (so ``$PORT`` still works).
    Command substitution, redirections, pipes, ``;`` and newlines are refused.
    """
    if not command or _CONTROL_RE.search(command) or len(command) > 1000:
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token == "&&":  # noqa: S105 - a shell operator, not a password
            commands.append([])
        elif token and set(token) <= set("();<>|&"):
            return None
        else:
            commands[-1].append(token)
    if any(not words for words in commands):
        return None
    rendered = [" ".join(_quote_word(w) for w in words) for words in commands]
    # exec the last command so the app is PID 1's direct child and gets SIGTERM.
    rendered[-1] = "exec " + rendered[-1]
    return " && ".join(rendered)


def hcl_string(value: str) -> str:
    """Render ``value`` as a double-quoted HCL string literal with no live interpolation."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("${", "$${")
        .replace("%{", "%%{")
    )
    escaped = _CONTROL_RE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", escaped)
    return f'"{escaped}"'
