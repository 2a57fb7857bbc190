"""The ceiling for the gateway: the same route and answer in FastAPI on uvicorn, no I/O.

uvicorn bench.baselines.bare_api:app --workers 2 --no-access-log
"""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["app"]


class JobCreate(BaseModel):
    repo_url: str
    description: str


class JobAccepted(BaseModel):
    job_id: UUID
    status: str


app = FastAPI()


@app.post("/request", status_code=202, response_model=JobAccepted)
async def submit(body: JobCreate) -> JobAccepted:
    """Answer exactly what the gateway answers, without storing anything."""
    return JobAccepted(job_id=uuid4(), status="queued")
