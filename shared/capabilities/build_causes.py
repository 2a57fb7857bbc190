"""Why a docker build failed, named from its output: the thing the build could not reach.

A failed build ends with "The command ... returned a non-zero code: 1", which names no
cause; the cause is usually some lines up, worded by the tool that hit it. Each rule here
turns one such wording into a sentence that names the missing thing and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["BuildCauses"]

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

_RULES: list[_Rule] = [
    (
        # uv (sync, pip install) and pip, when the project's requires-python excludes the
        # Python of the image: a local stand-in older than the tag asked for, typically.
        re.compile(
            r"current Python version \((?P<have>[\d.]+)\) is not compatible with the locked "
            r"Python requirement: `(?P<want>[^`]+)`"
            r"|requires a different Python: (?P<have2>[\d.]+) not in '(?P<want2>[^']+)'"
        ),
        lambda m: (
            f"the project requires Python {m.group('want') or m.group('want2')} and the "
            f"image's Python is {m.group('have') or m.group('have2')}; it needs a base image "
            "whose Python satisfies that (local images: the Pythons Debian ships)"
        ),
    ),
    (
        # next/font/google downloads the font's CSS and files while `next build` runs.
        re.compile(r"Failed to fetch `(?P<font>[^`]+)` from Google Fonts"),
        lambda m: (
            f"the build downloads the font {m.group('font')} from Google Fonts "
            "(next/font/google), which this machine cannot reach; self-host the font with "
            "next/font/local or build where Google Fonts answers"
        ),
    ),
    (
        re.compile(
            r"(?:getaddrinfo (?:ENOTFOUND|EAI_AGAIN)|Could not resolve host:?|Failed to resolve"
            r"|Temporary failure resolving|dial tcp: lookup)\s+'?"
            r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})"
        ),
        lambda m: (
            f"the build needs {m.group('host')}, a host this machine cannot reach (no "
            "outside network here); only the configured package registries answer"
        ),
    ),
]


class BuildCauses:
    """Reads build output line by line; ``first`` is the cause of the most specific rule seen.

    Rules are in order of how much they say: next/font's own line names the font and the
    fix, so it wins over the bare host lookup printed a few lines before it.
    """

    def __init__(self) -> None:
        self._found: dict[int, str] = {}

    @property
    def first(self) -> str | None:
        """The cause to report, or None when no rule recognised a line."""
        return self._found[min(self._found)] if self._found else None

    def saw(self, line: str) -> None:
        """Look at one line of build output."""
        for index, (pattern, cause) in enumerate(_RULES):
            if index in self._found:
                continue
            match = pattern.search(line)
            if match:
                self._found[index] = cause(match)
