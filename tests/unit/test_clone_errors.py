"""Git's stderr is classified into permanent and transient failures with clear reasons."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from shared.capabilities.git import TransientCloneError, _classify, repository_token
from shared.events import JobRequest
from shared.security import seal
from shared.settings import Settings
from shared.stage import PermanentError

URL = "http://127.0.0.1:34041/x.git"  # the port contains "404": must not read as not-found


@pytest.mark.parametrize(
    ("stderr", "kind", "words"),
    [
        (
            "remote: Repository not found.\nfatal: repository 'x' not found",
            PermanentError,
            "not found",
        ),
        (
            "fatal: unable to access 'x': The requested URL returned error: 404",
            PermanentError,
            "not found",
        ),
        ("fatal: Authentication failed for 'x'", PermanentError, "authentication"),
        (
            "fatal: could not read Username for 'x': terminal prompts disabled",
            PermanentError,
            "authentication",
        ),
        (
            "fatal: unable to access 'x': Could not resolve host: nope.example",
            PermanentError,
            "resolve",
        ),
        (
            "Failed to connect to 127.0.0.1 port 34041 after 0 ms: Couldn't connect to server",
            TransientCloneError,
            "could not fetch",
        ),
        (
            "fatal: unable to access 'x': The requested URL returned error: 503",
            TransientCloneError,
            "could not fetch",
        ),
        ("fatal: early EOF", TransientCloneError, "could not fetch"),
        ("fatal: something odd at port 34041", PermanentError, "could not fetch"),
    ],
)
def test_git_errors_are_classified(stderr: str, kind: type, words: str) -> None:
    error = _classify(stderr, URL)
    assert type(error) is kind
    assert words in str(error).lower()


# The operator's GITHUB_TOKEN is sent only to the GitHub that GITHUB_API_URL names; any
# other host (a requester's own git server) gets no token at all.
@pytest.mark.parametrize(
    ("repo_url", "api_url", "sent"),
    [
        ("https://github.com/o/r.git", "https://api.github.com", True),
        ("https://GitHub.com/o/r", "https://api.github.com/", True),
        ("https://evil.example/o/r.git", "https://api.github.com", False),
        ("https://github.com.evil.example/o/r.git", "https://api.github.com", False),
        ("https://api.github.com/o/r.git", "https://api.github.com", False),
        ("http://github.com/o/r.git", "https://api.github.com", False),
        ("https://ghe.example.com/o/r.git", "https://ghe.example.com/api/v3", True),
        ("https://ghe.example.com:8443/o/r.git", "https://ghe.example.com/api/v3", False),
        ("http://127.0.0.1:9000/r.git", "http://127.0.0.1:9001", False),
    ],
)
def test_the_configured_github_token_goes_to_github_only(
    repo_url: str, api_url: str, sent: bool
) -> None:
    settings = Settings(_env_file=None, github_token="svc-token-1234", github_api_url=api_url)
    token = repository_token(JobRequest(repo_url=repo_url, description="x"), settings)
    assert token == ("svc-token-1234" if sent else None)


def test_a_request_token_is_used_whatever_the_host() -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(_env_file=None, github_token="svc-token-1234", token_encryption_key=key)
    request = JobRequest(
        repo_url="http://127.0.0.1:9000/r.git", description="x", sealed_token=seal("mine", key)
    )
    assert repository_token(request, settings) == "mine"
