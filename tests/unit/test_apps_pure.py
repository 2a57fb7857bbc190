"""Apps' pure parts: names, repository identity, webhook signatures, push events, proxy config."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.apps import (
    app_name_base,
    numbered_name,
    preview_change,
    push_revision,
    repository_urls,
    same_repository,
    sign,
    signature_matches,
)
from shared.proxy import REVISION_HEADER, render_config

SHA = "a" * 40


@pytest.mark.parametrize(
    ("url", "root", "name"),
    [
        ("https://github.com/acme/Shop_Front.git", ".", "shop-front"),
        ("https://github.com/acme/shop/", "services/api", "shop-services-api"),
        ("http://127.0.0.1:9/x/.git", ".", "app"),
        ("https://github.com/acme/" + "long" * 20, ".", ("long" * 10)),
    ],
)
def test_app_names_are_dns_labels_from_the_repository(url: str, root: str, name: str) -> None:
    assert app_name_base(url, root) == name


def test_a_taken_name_gets_a_number_within_the_length() -> None:
    assert numbered_name("shop", 1) == "shop"
    assert numbered_name("shop", 3) == "shop-3"
    assert len(numbered_name("x" * 40, 12)) == 40


def test_an_apps_repository_keeps_no_credentials_and_matches_githubs_urls() -> None:
    clean = same_repository("https://user:ghp_secret@GitHub.com/acme/shop.git?token=abc#x")
    assert clean == "https://github.com/acme/shop"
    payload = {
        "repository": {
            "clone_url": "https://github.com/acme/shop.git",
            "html_url": "https://github.com/acme/shop",
        }
    }
    assert repository_urls(payload) == {clean}
    assert repository_urls({"repository": "nope"}) == set()


def test_signature_is_githubs_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"ref": "refs/heads/main"}'
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == expected
    assert signature_matches("s3cret", body, expected)
    assert not signature_matches("other", body, expected)
    assert not signature_matches("s3cret", body + b" ", expected)  # a tampered body
    assert not signature_matches("s3cret", body, None)
    assert not signature_matches("s3cret", body, expected.replace("sha256=", "sha1="))


def test_a_push_deploys_only_a_commit_of_the_apps_branch() -> None:
    repo = {"default_branch": "main"}
    push = {"ref": "refs/heads/main", "after": SHA, "repository": repo}
    assert push_revision(push, None).commit == SHA
    assert push_revision(push, "release").commit is None
    assert "follows release" in push_revision(push, "release").ignored
    assert push_revision({**push, "ref": "refs/tags/v1"}, None).commit is None
    assert "deleted" in push_revision({**push, "deleted": True}, None).ignored
    assert push_revision({**push, "after": "not-a-sha"}, None).commit is None


def test_proxy_config_serves_the_upstream_and_names_the_revision() -> None:
    conf = render_config(listen="127.0.0.1", port=41000, upstream="127.0.0.1:32768", revision="r2")
    assert "listen 127.0.0.1:41000;" in conf
    assert "proxy_pass http://127.0.0.1:32768;" in conf
    assert f"add_header {REVISION_HEADER} r2 always;" in conf
    idle = render_config(listen="::1", port=41000, upstream=None, revision="none")
    assert "listen [::1]:41000;" in idle and "return 503" in idle and "proxy_pass" not in idle


def test_a_pull_request_event_deploys_its_head_or_closes_its_preview() -> None:
    pull = {"action": "opened", "number": 7, "pull_request": {"head": {"sha": SHA}}}
    assert preview_change(pull).commit == SHA and preview_change(pull).number == 7
    assert preview_change({**pull, "action": "synchronize"}).commit == SHA
    closed = preview_change({**pull, "action": "closed"})
    assert closed.close and closed.commit is None
    assert "labeled" in preview_change({**pull, "action": "labeled"}).ignored
    assert preview_change({**pull, "number": "7"}).ignored
    assert preview_change({**pull, "pull_request": {"head": {"sha": "main"}}}).ignored
