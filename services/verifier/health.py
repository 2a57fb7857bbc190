"""HTTP health checks with backoff inside a deadline; pure enough to test without Docker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from shared.egress import pinned_client
from shared.metrics import HEALTH_CHECK_LATENCY

__all__ = ["HealthAttempt", "HealthReport", "check_health"]


@dataclass(frozen=True)
class HealthAttempt:
    """One try: when, what came back, how long it took."""

    at_s: float
    status: int | None
    latency_ms: float
    error: str | None = None


@dataclass
class HealthReport:
    """Every attempt and whether one of them succeeded."""

    url: str
    healthy: bool = False
    attempts: list[HealthAttempt] = field(default_factory=list)
    stopped_early: str | None = None

    @property
    def last(self) -> HealthAttempt | None:
        """The most recent attempt."""
        return self.attempts[-1] if self.attempts else None


async def check_health(
    url: str,
    *,
    deadline_s: float,
    still_running: Callable[[], Awaitable[str | None]] | None = None,
    first_delay_s: float = 0.05,
    max_delay_s: float = 3.0,
    state_every_s: float = 0.0,
) -> HealthReport:
    """GET ``url`` until it answers 2xx/3xx or the deadline passes.

    ``still_running`` returns a reason when waiting is pointless (the container exited). It
    is asked after the first failed attempt, then at most every ``state_every_s`` seconds:
    a loopback GET costs less than asking the engine, so a local check may poll the app
    more often than it asks about the container.
    """
    report = HealthReport(url=url)
    start = time.monotonic()
    delay = first_delay_s
    asked_at: float | None = None
    # Each attempt connects to the address its own resolution gave (no second lookup);
    # the URL is the deployment's own, so it is not held to the public-address rule.
    async with pinned_client(
        check_public=False, field="the health check URL", timeout=5.0
    ) as client:
        while True:
            t0 = time.monotonic()
            try:
                response = await client.get(url)
                attempt = HealthAttempt(
                    round(t0 - start, 3),
                    response.status_code,
                    round((time.monotonic() - t0) * 1000, 1),
                )
            except httpx.HTTPError as exc:
                attempt = HealthAttempt(
                    round(t0 - start, 3),
                    None,
                    round((time.monotonic() - t0) * 1000, 1),
                    error=f"{type(exc).__name__}: {exc}"[:200],
                )
            report.attempts.append(attempt)
            if attempt.status is not None:
                HEALTH_CHECK_LATENCY.observe(attempt.latency_ms / 1000)
            if attempt.status is not None and attempt.status < 400:
                report.healthy = True
                return report
            now = time.monotonic()
            if still_running is not None and (asked_at is None or now - asked_at >= state_every_s):
                asked_at = now
                reason = await still_running()
                if reason:
                    report.stopped_early = reason
                    return report
            if time.monotonic() - start + delay > deadline_s:
                return report
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, max_delay_s)
