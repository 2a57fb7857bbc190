"""A job's generated files: listed, one by one, or all as one tarball."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from fastapi import APIRouter, HTTPException, Response

from services.gateway.deps import PoolDep
from services.gateway.schemas import ArtifactRead, bundle_tarball
from shared import db

__all__ = ["router"]

router = APIRouter(tags=["artifacts"])


async def _existing_job(pool: asyncpg.Pool, job_id: UUID) -> None:
    if not await pool.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id):
        raise HTTPException(status_code=404, detail=f"no job {job_id}")


@router.get("/job/{job_id}/artifacts", response_model=list[ArtifactRead])
async def list_artifacts(job_id: UUID, pool: PoolDep) -> list[ArtifactRead]:
    """The generated files of a job."""
    await _existing_job(pool, job_id)
    rows = await db.list_artifacts(pool, job_id=job_id)
    return [ArtifactRead(**r) for r in rows]


@router.get("/job/{job_id}/bundle.tar.gz")
async def download_bundle(job_id: UUID, pool: PoolDep) -> Response:
    """Every generated file of a job as one tar.gz."""
    await _existing_job(pool, job_id)
    files = await db.get_artifacts(pool, job_id=job_id)
    if not files:
        raise HTTPException(status_code=404, detail=f"job {job_id} has no generated files yet")
    return Response(
        bundle_tarball(files, prefix=f"autodeploy-{job_id}"),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="autodeploy-{job_id}.tar.gz"'},
    )


@router.get("/job/{job_id}/artifacts/{path:path}")
async def get_artifact(job_id: UUID, path: str, pool: PoolDep) -> Response:
    """One generated file."""
    await _existing_job(pool, job_id)
    content = await db.get_artifact(pool, job_id=job_id, path=path)
    if content is None:
        raise HTTPException(status_code=404, detail=f"job {job_id} has no file {path!r}")
    return Response(content, media_type="text/plain; charset=utf-8")
