# ruff: noqa: E501
"""Git's stderr is classified into permanent and transient failures with clear reasons."""

from __future__ import annotations

import pytest

from services.analyzer.clone import TransientCloneError, _classify
from shared.stage import PermanentError

URL = "http://127.0.0.1:34041/x.git"  # the port contains "404": must not read as not-found


@pytest.mark.parametrize(
    ("stderr", "kind", "words"),
    [
        ("remote: Repository not found.\nfatal: repository 'x' not found", PermanentError, "not found"),
        ("fatal: unable to access 'x': The requested URL returned error: 404", PermanentError, "not found"),
        ("fatal: Authentication failed for 'x'", PermanentError, "authentication"),
        ("fatal: could not read Username for 'x': terminal prompts disabled", PermanentError, "authentication"),
        ("fatal: unable to access 'x': Could not resolve host: nope.example", PermanentError, "resolve"),
        ("Failed to connect to 127.0.0.1 port 34041 after 0 ms: Couldn't connect to server", TransientCloneError, "could not fetch"),
        ("fatal: unable to access 'x': The requested URL returned error: 503", TransientCloneError, "could not fetch"),
        ("fatal: early EOF", TransientCloneError, "could not fetch"),
        ("fatal: something odd at port 34041", PermanentError, "could not fetch"),
    ],
)
def test_git_errors_are_classified(stderr: str, kind: type, words: str) -> None:
    error = _classify(stderr, URL)
    assert type(error) is kind
    assert words in str(error).lower()
