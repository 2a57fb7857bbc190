"""The health check's loop without Docker: how often it asks whether the container runs.

The deployment is a port nothing listens on (every GET is refused at once), and the
container question is a counter, so what is checked is the count, not a duration.
"""

from __future__ import annotations

import socket

from services.verifier.health import check_health


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _asks(state_every_s: float) -> tuple[int, int]:
    asked = 0

    async def still_running() -> str | None:
        nonlocal asked
        asked += 1
        return None

    report = await check_health(
        f"http://127.0.0.1:{_closed_port()}/",
        deadline_s=0.4,
        still_running=still_running,
        first_delay_s=0.02,
        max_delay_s=0.02,
        state_every_s=state_every_s,
    )
    assert not report.healthy
    return asked, len(report.attempts)


async def test_the_engine_is_asked_after_every_failed_attempt_by_default() -> None:
    asked, attempts = await _asks(0.0)
    assert attempts > 3
    assert asked == attempts


async def test_a_local_check_polls_the_app_more_often_than_it_asks_the_engine() -> None:
    # Asked once after the first refused GET, then not again within the 10 s spacing,
    # however many GETs the 0.4 s window held.
    asked, attempts = await _asks(10.0)
    assert attempts > 3
    assert asked == 1


async def test_an_exited_container_ends_the_check_at_the_first_ask() -> None:
    async def exited() -> str | None:
        return "container exited (exit code 1)"

    report = await check_health(
        f"http://127.0.0.1:{_closed_port()}/",
        deadline_s=30,
        still_running=exited,
        first_delay_s=0.02,
        max_delay_s=0.1,
        state_every_s=0.25,
    )
    assert report.stopped_early == "container exited (exit code 1)"
    assert len(report.attempts) == 1
