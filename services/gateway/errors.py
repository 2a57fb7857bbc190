"""Errors the gateway's routes raise and the app turns into answers."""

from __future__ import annotations

from uuid import UUID

from fastapi import HTTPException

__all__ = ["Repeat", "field_error"]


class Repeat(Exception):
    """A repeated idempotent submission: answer with the first job."""

    def __init__(self, job_id: UUID) -> None:
        super().__init__(str(job_id))
        self.job_id = job_id


def field_error(field: str, message: str, *, status_code: int = 422) -> HTTPException:
    """A validation error naming the body field, shaped like FastAPI's own."""
    return HTTPException(
        status_code=status_code,
        detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )
