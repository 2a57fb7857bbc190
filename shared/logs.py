"""JSON logs on stdout and, for job work, in the job's log table; secrets redacted in both."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from uuid import UUID

from shared import db
from shared.security import redact, redact_obj

__all__ = ["JobLog", "JsonFormatter", "ThreadLines", "configure_logging"]

logger = logging.getLogger("autodeploy.job")

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; every string passes through `redact`."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as redacted JSON."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(redact_obj(entry), default=str))


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of this process to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiormq", "aio_pika", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class JobLog:
    """A job's log as seen by one service handling one event."""

    def __init__(
        self, pool: db.Conn, *, job_id: UUID, service: str, event_id: UUID | None = None
    ) -> None:
        self.pool = pool
        self.job_id = job_id
        self.service = service
        self.event_id = event_id

    def line(self, level: str, message: str, **fields: Any) -> db.LogLine:
        """A redacted line, for a caller that stores it in its own statement."""
        clean = redact_obj(fields)
        assert isinstance(clean, dict)
        return db.LogLine(level, redact(message), clean)

    def emit(self, line: db.LogLine) -> None:
        """Write a (redacted) line to stdout only."""
        logger.log(
            logging.getLevelName(line.level.upper()),
            line.message,
            extra={"job_id": str(self.job_id), "fields": line.fields},
        )

    async def log(self, level: str, message: str, **fields: Any) -> None:
        """Write a line to stdout and to job_logs."""
        line = self.line(level, message, **fields)
        self.emit(line)
        await self.store([line])

    async def store(self, lines: list[db.LogLine]) -> None:
        """Append (redacted) lines to job_logs in one statement, in order.

        The one place a job's lines reach the database: a unit test's log that keeps
        them in memory overrides this (``tests/support/jobstore.py``).
        """
        await db.add_logs(
            self.pool,
            job_id=self.job_id,
            service=self.service,
            lines=lines,
            event_id=self.event_id,
        )

    async def info(self, message: str, **fields: Any) -> None:
        """An info line."""
        await self.log("info", message, **fields)

    async def warning(self, message: str, **fields: Any) -> None:
        """A warning line."""
        await self.log("warning", message, **fields)

    async def error(self, message: str, **fields: Any) -> None:
        """An error line."""
        await self.log("error", message, **fields)


class ThreadLines:
    """A worker thread's output lines (a build, Terraform) written to the job's log in order.

    Call the object with a line from any thread; inside ``async with`` one task writes what
    has arrived, a batch per statement. Leaving the block waits until every line is
    stored, so the lines come before whatever the stage logs or commits next.

    A task per line (``run_coroutine_threadsafe``) would run its insert concurrently with
    the others on other pooled connections: lines stored out of order, some after the
    stage's commit, and a line whose id committed after a higher one never seen by the
    live log stream, which reads on from the last id it sent.
    """

    def __init__(self, log: JobLog, level: str = "info", **fields: Any) -> None:
        self._log = log
        self._level = level
        self._fields = fields
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def __call__(self, line: str) -> None:
        """Queue a line (safe from any thread)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, line)

    async def __aenter__(self) -> ThreadLines:
        self._writer = asyncio.create_task(self._write())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A line the thread queued before it returned is already in the queue: the
        # thread's result reached this coroutine through the same loop, after it.
        self._queue.put_nowait(None)
        if self._writer is not None:
            await self._writer

    async def _write(self) -> None:
        while True:
            batch: list[str] = []
            line = await self._queue.get()
            while line is not None:
                batch.append(line)
                if self._queue.empty():
                    break
                line = self._queue.get_nowait()
            if batch:
                await self._store(batch)
            if line is None:  # the end: nothing follows it
                return

    async def _store(self, texts: list[str]) -> None:
        lines = [self._log.line(self._level, text, **self._fields) for text in texts]
        for line in lines:
            self._log.emit(line)
        try:
            await self._log.store(lines)
        except Exception as exc:  # the lines are on stdout; the work goes on
            logger.warning(
                "job %s: %d output lines not stored in its log: %s",
                self._log.job_id,
                len(lines),
                exc,
            )
