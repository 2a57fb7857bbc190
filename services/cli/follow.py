"""Follow a job by polling `GET /job/{id}`: new log lines as they arrive, a stage timeline."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from services.cli.client import ApiClient, ApiError
from services.cli.render import Marks, format_duration, format_log, timeline

__all__ = ["Follower"]

Job = dict[str, Any]

# How long the API may be gone (a restart, the database blinking) before following gives up.
API_GRACE_S = 30.0
_REDRAW_S = 0.25


@dataclass
class Follower:
    """Polls one job until a condition holds, printing what changed.

    Plain lines when `out` is not a terminal (one per status change, one per log line);
    on a terminal a status line with a spinner and a ticking clock is redrawn below them.
    With `quiet` nothing is printed (`--json`).
    """

    client: ApiClient
    out: TextIO
    err: TextIO
    marks: Marks
    interval: float = 1.0
    tty: bool = False
    quiet: bool = False
    show_progress: bool = True
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    started: float = field(default=0.0, init=False)
    _live: bool = field(default=False, init=False)

    def follow(self, job_id: str, *, until: Callable[[Job], bool], after_log_id: int = 0) -> Job:
        """Poll the job until `until(job)`; print logs with ids above `after_log_id`."""
        self.started = self.clock()
        last_status: str | None = None
        status_since = self.started
        durations: dict[str, float] = {}
        lost_since: float | None = None
        job: Job = {}
        spin = 0
        while True:
            try:
                job = self.client.get_job(job_id)
            except ApiError as exc:
                if not exc.transient:
                    self._clear_live()
                    raise
                now = self.clock()
                if lost_since is None:
                    lost_since = now
                    self._note(f"{exc}; retrying for {API_GRACE_S:.0f}s")
                elif now - lost_since > API_GRACE_S:
                    self._clear_live()
                    raise
                self.sleep(self.interval)
                continue
            if lost_since is not None:
                lost_since = None
                self._note("the API answers again")
            now = self.clock()
            logs = sorted(
                (line for line in job.get("logs") or [] if int(line.get("id", 0)) > after_log_id),
                key=lambda line: int(line.get("id", 0)),
            )
            for line in logs:
                self._line(format_log(line))
                after_log_id = int(line.get("id", after_log_id))
            status = str(job.get("status"))
            if status != last_status:
                if last_status is not None:
                    durations[last_status] = durations.get(last_status, 0.0) + now - status_since
                status_since, last_status = now, status
                if self.show_progress:
                    self._line(self._status_text(job, durations, now))
            if until(job):
                self._clear_live()
                return job
            next_poll = now + self.interval
            while True:
                now = self.clock()
                if now >= next_poll:
                    break
                if self.tty and self.show_progress and not self.quiet:
                    ticking = dict(durations)
                    ticking[status] = ticking.get(status, 0.0) + now - status_since
                    frame = self.marks.spinner[spin % len(self.marks.spinner)]
                    spin += 1
                    self._draw_live(f"{frame} {self._status_text(job, ticking, now)}")
                self.sleep(min(_REDRAW_S, next_poll - now))

    def elapsed(self) -> float:
        """Seconds since following began."""
        return self.clock() - self.started

    def _status_text(self, job: Job, durations: dict[str, float], now: float) -> str:
        status = str(job.get("status"))
        elapsed = format_duration(now - self.started)
        shown = timeline(status, job.get("stage"), self.marks, durations)
        return f"[{elapsed:>6}] {status:<12} {shown}"

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        self._clear_live()
        self.out.write(text + "\n")
        self.out.flush()

    def _note(self, text: str) -> None:
        if self.quiet:
            return
        self._clear_live()
        self.err.write(f"autodeploy: {text}\n")
        self.err.flush()

    def _draw_live(self, text: str) -> None:
        width = shutil.get_terminal_size().columns
        # A line longer than the terminal wraps, and `\r` would then redraw only its tail.
        text = text[: max(1, width - 1)]
        self.out.write("\r\x1b[2K" + text)
        self.out.flush()
        self._live = True

    def _clear_live(self) -> None:
        if self._live:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._live = False
