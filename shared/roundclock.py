"""One deadline per brief-to-site round: every stage plans within what is left of it.

The evaluator scores a round only if its callback arrives within CALLBACK_DEADLINE_S of
the request. So that clock starts when the gateway accepts the task (the job's
``created_at``), and every stage asks it how long it may take: the LLM, the Pages wait
and the repair round each get a share of what is left, and the last CALLBACK_RESERVE_S
(at most a quarter of a short deadline) are kept for the callback's own retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.settings import Settings

__all__ = ["RoundClock"]


@dataclass(frozen=True)
class RoundClock:
    """The time budget of one round, counted from the request's acceptance."""

    accepted_at: datetime
    deadline_s: float
    reserve_s: float

    @classmethod
    def for_job(cls, job: dict[str, Any], settings: Settings) -> RoundClock:
        """The clock of a task job (its ``created_at`` is when /tasks accepted it)."""
        deadline = settings.callback_deadline_s
        return cls(
            accepted_at=job["created_at"],
            deadline_s=deadline,
            reserve_s=min(settings.callback_reserve_s, deadline / 4),
        )

    @property
    def callback_by(self) -> datetime:
        """When the evaluator stops listening."""
        return self.accepted_at + timedelta(seconds=self.deadline_s)

    @property
    def work_by(self) -> datetime:
        """When the work must stop so the callback keeps its reserve."""
        return self.callback_by - timedelta(seconds=self.reserve_s)

    def elapsed_s(self, now: datetime | None = None) -> float:
        """Seconds since the request was accepted."""
        return ((now or datetime.now(UTC)) - self.accepted_at).total_seconds()

    def work_left_s(self, now: datetime | None = None) -> float:
        """Seconds left for building, publishing and checking (never negative)."""
        return max(0.0, ((self.work_by - (now or datetime.now(UTC))).total_seconds()))

    def callback_left_s(self, now: datetime | None = None) -> float:
        """Seconds left until the evaluator stops listening (never negative)."""
        return max(0.0, (self.callback_by - (now or datetime.now(UTC))).total_seconds())

    def share_s(self, fraction: float, now: datetime | None = None) -> float:
        """A fraction of the work time left: what one stage may plan for."""
        return self.work_left_s(now) * fraction

    def until(self, seconds: float, now: datetime | None = None) -> datetime:
        """The earlier of ``seconds`` from now and the end of the work time."""
        now = now or datetime.now(UTC)
        return min(now + timedelta(seconds=seconds), self.work_by)
