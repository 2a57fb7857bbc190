"""Issue 22: a round's one deadline, and what each stage may plan for within it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.roundclock import RoundClock
from shared.settings import Settings

ACCEPTED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _clock(**settings: float) -> RoundClock:
    return RoundClock.for_job({"created_at": ACCEPTED}, Settings(_env_file=None, **settings))


def test_the_last_minute_of_ten_is_kept_for_the_callback() -> None:
    clock = _clock()
    assert clock.callback_by == ACCEPTED + timedelta(minutes=10)
    assert clock.work_by == ACCEPTED + timedelta(minutes=9)
    # Two minutes in: seven minutes of work left, half of it the LLM's.
    now = ACCEPTED + timedelta(minutes=2)
    assert clock.work_left_s(now) == 420 and clock.share_s(0.5, now) == 210
    # A stage's own limit (PAGES_TIMEOUT_S) is cut short by the round's.
    assert clock.until(300, now) == now + timedelta(seconds=300)
    assert clock.until(900, now) == clock.work_by


def test_a_short_deadline_keeps_a_quarter_for_the_callback() -> None:
    clock = _clock(callback_deadline_s=60)
    assert clock.work_by == ACCEPTED + timedelta(seconds=45)
    late = ACCEPTED + timedelta(seconds=50)
    assert clock.work_left_s(late) == 0 and clock.callback_left_s(late) == 10
    assert clock.callback_left_s(ACCEPTED + timedelta(minutes=5)) == 0
