"""Apps, the pure part: names, repository identity, webhook signatures and push events.

An app is a repository (+ app root + target) deployed under a stable name; each job is
one revision of it. Nothing here does I/O: the gateway, the provisioner and the verifier
call these with what they read from the database and the request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "APP_LABEL",
    "PreviewChange",
    "PushRevision",
    "app_name_base",
    "numbered_name",
    "preview_change",
    "push_revision",
    "repository_urls",
    "same_repository",
    "sign",
    "signature_matches",
]

# The label on an app's proxy container (jobs' objects carry autodeploy.job_id instead).
APP_LABEL = "autodeploy.app_id"

_NAME_MAX = 40
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def app_name_base(repo_url: str, app_root: str = ".") -> str:
    """The name an app would like: the repository's name, plus its app root when not '.'.

    Names are DNS labels (lower-case letters, digits, '-'), so that one can later be a
    host name (``<app>.localhost``) as well as a path segment.
    """
    path = urlsplit(repo_url).path.rstrip("/")
    repo = path.rsplit("/", 1)[-1].removesuffix(".git")
    parts = [repo] if app_root in ("", ".") else [repo, app_root]
    name = _NOT_NAME.sub("-", "-".join(parts).lower()).strip("-")
    return (name[:_NAME_MAX].rstrip("-")) or "app"


def numbered_name(base: str, n: int) -> str:
    """The n-th candidate for a name already taken: base, base-2, base-3…"""
    if n <= 1:
        return base
    suffix = f"-{n}"
    return base[: _NAME_MAX - len(suffix)].rstrip("-") + suffix


def same_repository(url: str) -> str:
    """A repository URL as apps compare it: no credentials, query, fragment or '.git'.

    Also what an app stores and shows, so a token in the URL never reaches its row.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path.rstrip("/").removesuffix(".git")
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


def repository_urls(payload: Mapping[str, Any]) -> set[str]:
    """Every URL a GitHub event's ``repository`` names, compared as `same_repository` does."""
    repo = payload.get("repository")
    if not isinstance(repo, Mapping):
        return set()
    urls = (repo.get(key) for key in ("clone_url", "html_url", "url", "git_url"))
    return {same_repository(u) for u in urls if isinstance(u, str) and "://" in u}


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, compared in constant time."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


@dataclass(frozen=True)
class PushRevision:
    """What a push asks of an app: deploy ``commit``, or why it asks nothing."""

    commit: str | None
    ignored: str = ""


def push_revision(payload: Mapping[str, Any], branch: str | None) -> PushRevision:
    """The commit a push event deploys on an app following ``branch`` (None: default)."""
    repo = payload.get("repository")
    default = repo.get("default_branch") if isinstance(repo, Mapping) else None
    wanted = branch or default
    ref = str(payload.get("ref") or "")
    pushed = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    if pushed is None or pushed != wanted:
        return PushRevision(None, f"the push is to {ref or 'no ref'}, the app follows {wanted}")
    if payload.get("deleted"):
        return PushRevision(None, f"the push deleted {pushed}")
    after = str(payload.get("after") or "")
    if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", after):
        return PushRevision(None, "the push names no commit ('after')")
    return PushRevision(after)


@dataclass(frozen=True)
class PreviewChange:
    """What a pull request event asks of its preview: deploy a commit, close, or nothing."""

    number: int
    commit: str | None = None  # deploy this head commit as the preview's next revision
    close: bool = False
    ignored: str = ""


_PREVIEW_DEPLOYS = frozenset({"opened", "reopened", "synchronize"})


def preview_change(payload: Mapping[str, Any]) -> PreviewChange:
    """The preview change a ``pull_request`` event asks for (its head commit, or closing)."""
    action = str(payload.get("action") or "")
    pull = payload.get("pull_request")
    number = payload.get("number")
    if not isinstance(pull, Mapping) or not isinstance(number, int) or number < 1:
        return PreviewChange(0, ignored="the event names no pull request")
    if action == "closed":
        return PreviewChange(number, close=True)
    if action not in _PREVIEW_DEPLOYS:
        return PreviewChange(number, ignored=f"pull request action {action!r} changes no preview")
    head = pull.get("head")
    sha = str(head.get("sha") or "") if isinstance(head, Mapping) else ""
    if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
        return PreviewChange(number, ignored="the pull request names no head commit")
    return PreviewChange(number, commit=sha)
