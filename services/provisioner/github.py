"""An async GitHub REST client for the brief-to-site target: repositories and Pages.

Follows GitHub's documented request and response shapes (REST API version 2022-11-28).
The token travels only in the ``Authorization`` header of requests to ``base_url``; it
is never sent to the Pages site, and never appears in an error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from shared.security import redact, register_secret

__all__ = [
    "DEFAULT_BASE_URL",
    "GitHubClient",
    "GitHubError",
    "Pages",
    "PagesBuild",
    "PublishTimeout",
    "Repo",
    "repo_name_for",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MAX_NAME = 100
_SUFFIX_LEN = 6
_UNSAFE = re.compile(r"[^a-z0-9_-]+")

Sleep = Callable[[float], Awaitable[None]]


class GitHubError(Exception):
    """GitHub refused a request; carries its status, ``message`` and ``documentation_url``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str,
        path: str,
        documentation_url: str | None = None,
        errors: list[str] | None = None,
        rate_limited: bool = False,
    ) -> None:
        self.status = status
        self.rate_limited = rate_limited
        self.message = redact(message)
        self.method = method
        self.path = path
        self.documentation_url = documentation_url
        self.errors = [redact(e) for e in errors or []]
        super().__init__(self._text())

    @property
    def transient(self) -> bool:
        """True when retrying later may succeed (server errors, rate limits)."""
        return self.rate_limited or self.status >= 500

    def _text(self) -> str:
        text = f"GitHub answered {self.status} to {self.method} {self.path}: {self.message}"
        if self.errors:
            text += " (" + "; ".join(self.errors) + ")"
        if self.status == 401:
            text += "; the GitHub token is missing, expired or revoked"
        elif self.status == 403 and not self.transient:
            text += "; the token lacks a permission this needs (Administration, Contents, Pages)"
        if self.documentation_url:
            text += f" — see {self.documentation_url}"
        return text


class PublishTimeout(Exception):
    """The Pages site (or its build) did not become ready before the deadline."""


@dataclass(frozen=True)
class Repo:
    """A repository as the REST API describes it (the fields autodeploy uses)."""

    full_name: str
    html_url: str
    clone_url: str
    default_branch: str

    @property
    def owner(self) -> str:
        """The owner's login."""
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        """The repository's name without its owner."""
        return self.full_name.split("/", 1)[1]


@dataclass(frozen=True)
class Pages:
    """A repository's GitHub Pages site."""

    html_url: str
    status: str | None
    branch: str | None
    path: str | None


@dataclass(frozen=True)
class PagesBuild:
    """One GitHub Pages build (``status``: queued, building, built or errored)."""

    status: str
    url: str
    commit: str | None = None
    error: str | None = None


def repo_name_for(task: str, *, seed: str | None = None) -> str:
    """A repository name for ``task``: lowercase, safe characters, ≤ 100, unique suffix.

    With ``seed`` (e.g. the job id) the suffix is derived from it, so a redelivered job
    computes the same name and can find the repository it already created.
    """
    base = _UNSAFE.sub("-", task.lower()).strip("-_") or "site"
    base = re.sub(r"-{2,}", "-", base)
    if seed is None:
        suffix = secrets.token_hex(_SUFFIX_LEN // 2)
    else:
        suffix = hashlib.sha256(seed.encode()).hexdigest()[:_SUFFIX_LEN]
    return _with_suffix(base, suffix)


def _with_suffix(base: str, suffix: str) -> str:
    room = MAX_NAME - len(suffix) - 1
    return f"{base[:room].rstrip('-_') or 'site'}-{suffix}"


class GitHubClient:
    """GitHub REST calls for creating a public repository and publishing it on Pages."""

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 30.0,
        rate_limit_retries: int = 3,
        max_rate_limit_wait_s: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        register_secret(token)
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "autodeploy",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._rate_limit_retries = rate_limit_retries
        self._max_wait = max_rate_limit_wait_s
        self._sleep = sleep
        self._api = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            transport=transport,
            headers=headers,
        )
        # The Pages site is another host: it must never see the token.
        self._site = httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=True, headers={"User-Agent": "autodeploy"}
        )

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._api.aclose()
        await self._site.aclose()

    async def get_authenticated_user(self) -> str:
        """The login of the token's user (``GET /user``)."""
        body = await self._json("GET", "/user")
        return str(body["login"])

    async def create_repo(self, name: str, description: str = "", *, attempts: int = 5) -> Repo:
        """Create a public, empty repository; on "name already exists" add a new suffix."""
        candidate = name
        for attempt in range(attempts):
            try:
                body = await self._json(
                    "POST",
                    "/user/repos",
                    json={
                        "name": candidate,
                        "description": description,
                        "private": False,
                        "auto_init": False,
                    },
                )
            except GitHubError as exc:
                if exc.status != 422 or not _name_taken(exc) or attempt == attempts - 1:
                    raise
                logger.info("repository name %s is taken; trying another suffix", candidate)
                candidate = _with_suffix(name, secrets.token_hex(_SUFFIX_LEN // 2))
                continue
            return _repo(body)
        raise AssertionError("unreachable")  # pragma: no cover

    async def find_repo(self, owner: str, name: str) -> Repo | None:
        """The repository ``owner/name``, or None when it does not exist (or is hidden)."""
        try:
            body = await self._json("GET", f"/repos/{_seg(owner)}/{_seg(name)}")
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return _repo(body)

    async def enable_pages(
        self, owner: str, repo: str, branch: str = "main", path: str = "/"
    ) -> Pages:
        """Publish ``branch`` (at ``path``) on Pages; update the source when already enabled."""
        base = f"/repos/{_seg(owner)}/{_seg(repo)}/pages"
        source = {"source": {"branch": branch, "path": path}}
        try:
            return _pages(await self._json("POST", base, json=source))
        except GitHubError as exc:
            if exc.status not in (409, 422):
                raise
            first = exc
        try:
            await self._json("PUT", base, json=source)
        except GitHubError as exc:
            # PUT says 404 when Pages is not enabled: then the POST's reason is the real one
            # (for instance the branch does not exist yet).
            raise first if exc.status == 404 else exc from None
        pages = await self.get_pages(owner, repo)
        if pages is None:
            raise GitHubError(404, "Pages vanished after update", method="GET", path=base)
        return pages

    async def get_pages(self, owner: str, repo: str) -> Pages | None:
        """The repository's Pages site, or None when Pages is not enabled."""
        try:
            body = await self._json("GET", f"/repos/{_seg(owner)}/{_seg(repo)}/pages")
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return _pages(body)

    async def request_pages_build(self, owner: str, repo: str) -> PagesBuild:
        """Ask GitHub to build the Pages site from the source branch's latest commit."""
        body = await self._json("POST", f"/repos/{_seg(owner)}/{_seg(repo)}/pages/builds")
        return _build(body)

    async def latest_pages_build(self, owner: str, repo: str) -> PagesBuild | None:
        """The latest Pages build, or None when there has been none."""
        try:
            body = await self._json("GET", f"/repos/{_seg(owner)}/{_seg(repo)}/pages/builds/latest")
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return _build(body)

    async def wait_for_build(
        self,
        owner: str,
        repo: str,
        *,
        commit: str,
        deadline: datetime,
        first_delay_s: float = 1.0,
        max_delay_s: float = 15.0,
    ) -> PagesBuild:
        """Poll the latest Pages build until it has built ``commit``; raise if it errored."""
        delay = first_delay_s
        last: PagesBuild | None = None
        while True:
            last = await self.latest_pages_build(owner, repo)
            if last is not None and last.commit == commit:
                if last.status == "built":
                    return last
                if last.status == "errored":
                    raise GitHubError(
                        422,
                        f"the Pages build of {commit[:12]} failed: {last.error or 'no reason'}",
                        method="GET",
                        path=f"/repos/{owner}/{repo}/pages/builds/latest",
                    )
            state = "none" if last is None else f"{last.status} at {last.commit or '?'}"
            delay = await self._pause(
                deadline,
                delay,
                max_delay_s,
                f"the Pages build of {owner}/{repo} at {commit[:12]} did not finish by "
                f"{deadline.isoformat()} (latest build: {state})",
            )

    async def wait_until_published(
        self,
        url: str,
        deadline: datetime,
        *,
        expect: str | None = None,
        first_delay_s: float = 1.0,
        max_delay_s: float = 15.0,
    ) -> httpx.Response:
        """Poll ``url`` with backoff until it answers 200 (containing ``expect`` if given)."""
        delay = first_delay_s
        while True:
            try:
                response = await self._site.get(url)
                last = f"HTTP {response.status_code}"
                if response.status_code == 200:
                    if expect is None or expect in response.text:
                        return response
                    last = "HTTP 200 without the expected content (an older build?)"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            delay = await self._pause(
                deadline,
                delay,
                max_delay_s,
                f"the Pages site {url} was not published by {deadline.isoformat()}; "
                f"its last answer was {last}",
            )

    async def _pause(self, deadline: datetime, delay: float, max_delay: float, why: str) -> float:
        left = (deadline - datetime.now(UTC)).total_seconds()
        if left <= 0:
            raise PublishTimeout(redact(why))
        await self._sleep(min(delay, left))
        return min(delay * 2, max_delay)

    async def _json(self, method: str, path: str, *, json: object = None) -> Any:
        response = await self._request(method, path, json=json)
        if response.status_code == 204 or not response.content:
            return {}
        return response.json()

    async def _request(self, method: str, path: str, *, json: object = None) -> httpx.Response:
        retries = 0
        while True:
            response = await self._api.request(method, path, json=json)
            if response.status_code < 400:
                return response
            wait = _rate_limit_wait(response)
            if wait is None:
                raise _error(response, method, path)
            if retries >= self._rate_limit_retries or wait > self._max_wait:
                raise _error(response, method, path, rate_limited=True, wait=wait)
            retries += 1
            logger.warning(
                "GitHub rate limit on %s %s; waiting %.0fs (retry %d of %d)",
                method,
                path,
                wait,
                retries,
                self._rate_limit_retries,
            )
            await self._sleep(wait)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _rate_limit_wait(response: httpx.Response) -> float | None:
    """Seconds to wait before retrying a rate-limited answer; None if it is not one."""
    if response.status_code not in (403, 429):
        return None
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset")
        try:
            return max(0.0, float(reset) - time.time()) if reset else 60.0
        except ValueError:
            return 60.0
    if response.status_code == 429:
        # GitHub's advice for a secondary limit without headers: wait at least a minute.
        return 60.0
    return None


def _error(
    response: httpx.Response,
    method: str,
    path: str,
    *,
    rate_limited: bool = False,
    wait: float = 0.0,
) -> GitHubError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"message": response.text[:300] or response.reason_phrase}
    message = str(body.get("message") or response.reason_phrase)
    if rate_limited:
        message = f"rate limit exceeded ({message}); it resets in about {wait:.0f}s"
    errors = []
    for item in body.get("errors") or []:
        if isinstance(item, dict):
            errors.append(str(item.get("message") or item.get("code") or item))
        else:
            errors.append(str(item))
    doc = body.get("documentation_url")
    return GitHubError(
        response.status_code,
        message,
        method=method,
        path=path,
        documentation_url=str(doc) if doc else None,
        errors=errors,
        rate_limited=rate_limited,
    )


def _name_taken(exc: GitHubError) -> bool:
    return any("already exists" in e for e in exc.errors) or "already exists" in exc.message


def _repo(body: dict[str, Any]) -> Repo:
    return Repo(
        full_name=str(body["full_name"]),
        html_url=str(body["html_url"]),
        clone_url=str(body["clone_url"]),
        default_branch=str(body.get("default_branch") or "main"),
    )


def _pages(body: dict[str, Any]) -> Pages:
    source = body.get("source") or {}
    return Pages(
        html_url=str(body["html_url"]),
        status=body.get("status"),
        branch=source.get("branch"),
        path=source.get("path"),
    )


def _build(body: dict[str, Any]) -> PagesBuild:
    error = body.get("error") or {}
    return PagesBuild(
        status=str(body.get("status") or "queued"),
        url=str(body.get("url") or ""),
        commit=body.get("commit"),
        error=error.get("message") if isinstance(error, dict) else None,
    )
