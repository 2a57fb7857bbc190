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
    redact_shapes,
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


# Token shapes of common services: (text, the part that must not survive).
TOKEN_SHAPES = [
    ("stripe = 'sk_live_51HbQxYAbCdEfGhIjKlMnOpQr'", "sk_live_51HbQ"),
    ("STRIPE_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_4eC39"),
    ("restricted rk_live_51HbQxYAbCdEfGhIjKlMnOp", "rk_live_51HbQ"),
    ("gitlab glpat-xYz12345AbCdEfGhIjKl", "glpat-xYz123"),
    ("slack xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-123456"),
    ("slack xoxp-1234567890-1234567890-1234567890-abcdef0123456789", "xoxp-123456"),
    ("slack xoxa-2-1234567890-abcdef0123456789", "xoxa-2-1234"),
    ("slack xoxr-1234567890-abcdef0123456789", "xoxr-123456"),
    ("slack xoxs-1234567890-abcdef0123456789", "xoxs-123456"),
    ("aws AKIAABCDEFGHIJKLMNOP", "AKIAABCDEF"),
    ("aws session ASIAABCDEFGHIJKLMNOP", "ASIAABCDEF"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdef"),
    ("gho_abcdefghijklmnopqrstuvwxyz0123", "gho_abcdef"),
    ("ghu_abcdefghijklmnopqrstuvwxyz0123", "ghu_abcdef"),
    ("ghs_abcdefghijklmnopqrstuvwxyz0123", "ghs_abcdef"),
    ("ghr_abcdefghijklmnopqrstuvwxyz0123", "ghr_abcdef"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11"),
]

# Credentials a repository URL can carry: (URL, the part that must not survive).
URL_CREDENTIALS = [
    ("https://gitlab.example/a/b.git?private_token=Zq9rT5wX2kLm", "Zq9rT5wX2kLm"),
    ("https://git.example/a/b?access_token=Zq9rT5wX2kLm&ref=main", "Zq9rT5wX2kLm"),
    ("https://git.example/a/b?token=Zq9rT5wX2kLm", "Zq9rT5wX2kLm"),
    ("https://git.example/a/b?ref=main&key=Zq9rT5wX2kLm", "Zq9rT5wX2kLm"),
    ("https://git.example/a/b?sig=Zq9rT5wX2kLm", "Zq9rT5wX2kLm"),
    ("https://s3.example/a?X-Amz-Signature=Zq9rT5wX2kLm&X-Amz-Date=1", "Zq9rT5wX2kLm"),
    ("https://git.example/a/b?auth=Zq9rT5wX2kLm", "Zq9rT5wX2kLm"),
    ("https://git.example/a/b?pwd=Zq9rT5wX2kLm", "Zq9rT5wX2kLm"),
    ("https://oauth2:Zq9rT5wX2kLm@gitlab.example/a/b.git", "Zq9rT5wX2kLm"),
    ("https://x-access-token:Zq9rT5wX2kLm@git.example/a/b", "Zq9rT5wX2kLm"),
    ("https://Zq9rT5wX2kLmZq9rT5wX@git.example/a/b", "Zq9rT5wX2kLm"),
]


@pytest.mark.parametrize(("text", "secret"), TOKEN_SHAPES)
def test_each_token_shape_is_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and "***" in out, out


@pytest.mark.parametrize(("url", "secret"), URL_CREDENTIALS)
def test_credentials_in_a_url_are_redacted_and_the_rest_kept(url: str, secret: str) -> None:
    out = redact(url)
    assert secret not in out, out
    assert out.split("?")[0].rsplit("@")[-1] in url  # host and path stay readable
    assert "***" in out


@pytest.mark.parametrize(
    "text",
    [
        "https://git.example/a/b?ref=main&monkey=banana",
        "src/keys/loader.py:12: KEY_FILE = os.environ['KEY_FILE']",
        "task_skeleton.py",
        "xoxo-gossip and an ASIAN market",
        "git@github.com:team/app.git",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert redact(text) == text


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
        "sk_live_", "rk_test_", "glpat-", "xoxb-", "xoxs-", "ASIA", "?", "&", "X-Amz-",
        "Signature=", "sig=", "key=", "auth=", "pwd=", "://h/p",
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


def test_shapes_only_keeps_registered_words_in_a_repositorys_text() -> None:
    # An analysis is redacted by shape only: a weak registered value (a dev password)
    # must not rewrite the repository's paths the generator relies on.
    register_secret("guestbook")
    text = "guestbook/app.py: STRIPE = 'sk_live_51HbQxYAbCdEfGhIjKlMnOpQr'"
    assert redact_shapes(text) == "guestbook/app.py: STRIPE = '***'"
    assert redact_obj({"tree": [text]}, shapes_only=True) == {"tree": [redact_shapes(text)]}
    assert redact(text) == "***/app.py: STRIPE = '***'"


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
