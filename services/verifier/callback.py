"""The evaluation callback: POST the result JSON, retrying with doubling delays to a deadline.

The evaluation URL comes from the request, so it is vetted like a repository URL: https
only, no credentials, and no loopback or private address, neither literally nor after
DNS resolution, nor behind a redirect (unless the host is in ``allowed_hosts``). Every
attempt is reported through ``on_attempt`` so the job log shows each one.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from shared.egress import pinned_client, resolve_and_check_host
from shared.security import RepoUrlError, check_url, redact

__all__ = [
    "CallbackAttempt",
    "CallbackUrlError",
    "OnAttempt",
    "check_callback_url",
    "evaluation_payload",
    "send_callback",
]

OnAttempt = Callable[[int, int | str, float | None], Awaitable[None] | None]

_HOST_RE = re.compile(r"^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$")
_FOLLOWED = {307, 308}  # method-preserving redirects: the POST body survives them
_MAX_REDIRECTS = 3


class CallbackUrlError(ValueError):
    """An evaluation URL autodeploy refuses to POST to."""


@dataclass(frozen=True)
class CallbackAttempt:
    """One POST: its number, the HTTP status or the error, and the wait before the next."""

    attempt: int
    status: int | None
    error: str | None
    delay_s: float | None
    at_s: float

    @property
    def ok(self) -> bool:
        """True when this attempt was answered with 200."""
        return self.status == 200


def evaluation_payload(
    *,
    email: str,
    task: str,
    round: int,
    nonce: str,
    repo_url: str,
    commit_sha: str,
    pages_url: str,
) -> dict[str, object]:
    """The exact body the evaluation API expects."""
    return {
        "email": email,
        "task": task,
        "round": round,
        "nonce": nonce,
        "repo_url": repo_url,
        "commit_sha": commit_sha,
        "pages_url": pages_url,
    }


def check_callback_url(url: str, allowed_hosts: Iterable[str] = ()) -> str:
    """Vet an evaluation URL like any outbound URL; return its host. Raises CallbackUrlError."""
    try:
        return check_url(
            url,
            allowed_hosts,
            field="evaluation_url",
            require_path=False,
            allow_setting="CALLBACK_ALLOWED_HOSTS",
        )
    except RepoUrlError as exc:
        raise CallbackUrlError(str(exc)) from None


async def _check_resolution(url: str, allowed_hosts: Collection[str], within_s: float) -> None:
    host = (urlsplit(url).hostname or "").lower()
    try:
        await resolve_and_check_host(
            host,
            allowed_hosts,
            within_s=within_s,
            field="evaluation_url",
            allow_setting="CALLBACK_ALLOWED_HOSTS",
        )
    except RepoUrlError as exc:
        raise CallbackUrlError(str(exc)) from None


async def _post_once(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    allowed_hosts: Collection[str],
    timeout_s: float,
) -> int:
    """POST, following only method-preserving redirects to vetted URLs; the final status."""
    target = url
    for _ in range(_MAX_REDIRECTS + 1):
        await _check_resolution(target, allowed_hosts, min(timeout_s, 5.0))
        response = await client.post(
            target,
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=timeout_s,
        )
        if response.status_code not in _FOLLOWED or "location" not in response.headers:
            return response.status_code
        target = urljoin(target, response.headers["location"])
        try:
            check_callback_url(target, allowed_hosts)
        except CallbackUrlError as exc:
            raise CallbackUrlError(
                f"refused the redirect to {redact(target)[:200]}: {exc}"
            ) from exc
    raise CallbackUrlError(f"evaluation_url redirected more than {_MAX_REDIRECTS} times")


async def _report(
    on_attempt: OnAttempt | None, n: int, outcome: int | str, delay: float | None
) -> None:
    if on_attempt is None:
        return
    result = on_attempt(n, outcome, delay)
    if inspect.isawaitable(result):
        await result


async def send_callback(
    url: str,
    payload: Mapping[str, object],
    *,
    deadline_s: float = 600.0,
    first_delay_s: float = 1.0,
    max_delay_s: float | None = None,
    on_attempt: OnAttempt | None = None,
    allowed_hosts: Collection[str] = (),
    request_timeout_s: float = 30.0,
) -> list[CallbackAttempt]:
    """POST ``payload`` until it is answered 200 or ``deadline_s`` passes; every attempt.

    Delays double from ``first_delay_s`` (1, 2, 4, 8… s). A refused URL raises
    CallbackUrlError before any request; check ``attempts[-1].ok`` for delivery.
    """
    check_callback_url(url, allowed_hosts)
    body = json.dumps(dict(payload), separators=(",", ":")).encode("utf-8")
    attempts: list[CallbackAttempt] = []
    start = time.monotonic()
    delay = first_delay_s
    # No redirects by the client itself: each hop is vetted in _post_once, and every
    # connection goes to the address vetted for it (a configured proxy is still used).
    async with pinned_client(
        allowed_hosts=allowed_hosts, field="evaluation_url", allow_setting="CALLBACK_ALLOWED_HOSTS"
    ) as client:
        number = 0
        while True:
            number += 1
            at = round(time.monotonic() - start, 3)
            remaining = deadline_s - (time.monotonic() - start)
            status: int | None = None
            error: str | None = None
            permanent = False
            try:
                status = await _post_once(
                    client, url, body, allowed_hosts, max(0.05, min(request_timeout_s, remaining))
                )
            except CallbackUrlError as exc:
                error, permanent = str(exc), True
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                error = redact(f"{type(exc).__name__}: {exc}".rstrip(": "))[:300]
            elapsed = time.monotonic() - start
            wait: float | None = delay
            if status == 200 or permanent or elapsed + delay >= deadline_s:
                wait = None
            attempts.append(CallbackAttempt(number, status, error, wait, at))
            outcome: int | str = status if status is not None else (error or "error")
            await _report(on_attempt, number, outcome, wait)
            if wait is None:
                return attempts
            await asyncio.sleep(wait)
            delay = delay * 2 if max_delay_s is None else min(delay * 2, max_delay_s)
