"""What PostgreSQL can store: text without NUL or lone surrogates, bounded in size.

PostgreSQL's ``text`` refuses the NUL character (``CharacterNotInRepertoireError``), and
``jsonb`` refuses the ``\\u0000`` escape and lone UTF-16 surrogates (``\\ud800``…). Both
reach us from outside: a repository's files, a git server's error output, an LLM's
answer, a build's output, a file name that is not UTF-8 (Python keeps its bytes as lone
surrogates). A refused write used to fail the stage's commit on every attempt, so the job
never ended. `shared.db` passes every outside string through here on its way to a
statement; the common case (clean and short) costs a substring search and a length check.

Unstorable characters become U+FFFD (the replacement character: still readable, and
visibly not what was there); text past its bound is cut with a marker that says how much.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "LINE_LIMIT",
    "REPLACEMENT",
    "TEXT_LIMIT",
    "storable_json",
    "storable_json_text",
    "storable_obj",
    "storable_text",
]

# A job log line (a build's output line, a handler's message).
LINE_LIMIT = 8 * 1024
# Any other text column or string inside a JSON document (an error reason, an evidence
# line, an LLM's answer).
TEXT_LIMIT = 64 * 1024
REPLACEMENT = "\ufffd"

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# One encoder: `json.dumps` with any option builds a new one per call.
_ENCODER = json.JSONEncoder(default=str)
# In JSON text: the NUL escape and any surrogate escape (a pair is fine, but telling a
# pair from a lone one is the slow path's job).
_JSON_SUSPECT = re.compile(r"\\u0000|\\u[dD][89a-fA-F]")


def storable_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` with NUL and lone surrogates replaced, cut to ``limit`` characters plus a marker."""
    if len(text) <= limit and "\x00" not in text and (text.isascii() or not _clean_needed(text)):
        return text
    cleaned = _UNSTORABLE.sub(REPLACEMENT, text)
    if len(cleaned) <= limit:
        return cleaned
    return f"{cleaned[:limit]}… [{len(cleaned) - limit} more characters not stored]"


def _clean_needed(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def storable_obj(value: Any, limit: int = TEXT_LIMIT) -> Any:
    """A JSON-like value with every string (keys too) made `storable_text`."""
    if isinstance(value, str):
        return storable_text(value, limit)
    if isinstance(value, dict):
        return {storable_text(str(k), limit): storable_obj(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_obj(v, limit) for v in value]
    return value


def storable_json(value: Any) -> str:
    """JSON for a ``json``/``jsonb`` parameter (the connection's codec).

    Encodes once; only a document that holds a NUL or surrogate escape, or is longer
    than one string may be, is walked and encoded again, cleaned. Values JSON has no
    type for are stored as their text rather than failing the statement.
    """
    text = _ENCODER.encode(value)
    # ASCII-only JSON: "\u" is in it only if something non-ASCII or a control is.
    if len(text) <= TEXT_LIMIT and ("\\u" not in text or _JSON_SUSPECT.search(text) is None):
        return text
    return _ENCODER.encode(storable_obj(value))


def storable_json_text(text: str) -> str:
    """JSON text (an event's body, cast to jsonb in SQL) without what jsonb refuses."""
    if "\\u" not in text or _JSON_SUSPECT.search(text) is None:
        return text
    return json.dumps(storable_obj(json.loads(text)))
