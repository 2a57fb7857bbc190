"""Redaction, token sealing and repository-URL vetting."""

from __future__ import annotations

import random

import pytest
from cryptography.fernet import Fernet

from shared import security
from shared.security import (
    RepoUrlError,
    check_repo_url,
    redact,
    redact_obj,
    register_secret,
    seal,
    unseal,
)


@pytest.mark.parametrize(
    "text",
    [
        "cloning https://user:hunter2hunter2@example.com/a/b",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "OPENAI key sk-proj-abcdefghijklmnop1234",
        "Authorization: Bearer abc.def.ghi",
        "authorization: token abc.def.ghi",
        "password=hunter2hunter2",
        "API_KEY: hunter2hunter2",
        "pushing to https://hunter2hunter2hunter2@example.com/a/b",
        "aws AKIAABCDEFGHIJKLMNOP",
    ],
)
def test_well_known_secret_shapes_are_redacted(text: str) -> None:
    out = redact(text)
    assert "***" in out
    for secret in ("hunter2", "ghp_abc", "github_pat_11", "sk-proj", "abc.def.ghi", "AKIA"):
        assert secret not in out


def _every_shape(text: str) -> str:
    """What `redact` gives when it tries every shape on every text (no quick check)."""
    for _, _, pattern in security._PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "***", text)
        else:
            text = pattern.sub("***", text)
    return text


def test_the_quick_check_skips_no_secret() -> None:
    # `redact` looks for the shapes' literals first and returns text that holds none
    # untouched; on any mix of those literals it must still redact what every shape does.
    pieces = [
        "password", "PassWD", "SECRET", "toKen", "api-key", "Api_Key", "KEY", "key",
        "authorization: ", "Authorization: Bearer ", "token ", "=", ": ", " ", ",", "'",
        "https://", "user:pw@", "@", "abcdefghijklmnopqrst", "0123456789ABCDEF",
        "ghp_", "gho_", "github_pat_", "sk-", "AKIA", "ABCDEFGHIJKLMNOP", "x", "/",
    ]  # fmt: skip
    rng = random.Random(9)
    texts = ["".join(rng.choices(pieces, k=rng.randint(1, 12))) for _ in range(3000)]
    redacted = 0
    for text in texts:
        assert redact(text) == _every_shape(text), text
        redacted += redact(text) != text
    assert redacted > 500, "the mixes should hold many secrets"


def test_registered_values_are_redacted_everywhere() -> None:
    register_secret("plain-looking-value-42")
    assert redact_obj({"a": ["x plain-looking-value-42 y"]}) == {"a": ["x *** y"]}


def test_sealed_token_opens_only_with_its_key() -> None:
    key = Fernet.generate_key().decode()
    sealed = seal("tok", key)
    assert "tok" not in sealed and unseal(sealed, key) == "tok"
    with pytest.raises(ValueError, match="TOKEN_ENCRYPTION_KEY"):
        unseal(sealed, Fernet.generate_key().decode())


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("-c core.sshCommand=x", "start with '-'"),
        ("ext::sh -c id", "remote helper"),
        ("file:///etc/passwd", "only https://"),
        ("ssh://git@github.com/a/b", "only https://"),
        ("git@github.com:a/b.git", "only https://"),
        ("https://a:b@github.com/x/y", "credentials"),
        ("https://github.com", "no repository path"),
        ("https://github.com/a b", "whitespace"),
        ("https://10.0.0.1/a/b", "non-public"),
        ("https://0x7f000001/a/b", "non-public"),
        ("https://0177.0.0.1/a/b", "non-public"),
        ("https://[::1]/a/b", "non-public"),
        ("https://[fd00::1]/a/b", "non-public"),
        ("https://169.254.169.254/latest", "non-public"),
        ("http://example.com/a/b", "plain http"),
    ],
)
def test_bad_repository_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(RepoUrlError, match=reason):
        check_repo_url(url)


def test_allow_listed_hosts_may_be_private_or_plain_http() -> None:
    assert check_repo_url("http://127.0.0.1:9418/r.git", ["127.0.0.1:9418"]) == "127.0.0.1"
    assert check_repo_url("https://git.internal/r.git", ["git.internal"]) == "git.internal"
    assert check_repo_url("https://github.com/pallets/flask") == "github.com"
