"""JSON logs on stdout and, for job work, in the job's log table; secrets redacted in both."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from shared import db
from shared.security import redact, redact_obj

__all__ = ["JobLog", "JsonFormatter", "configure_logging"]

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
        await db.add_log(
            self.pool,
            job_id=self.job_id,
            service=self.service,
            level=line.level,
            message=line.message,
            fields=line.fields,
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
