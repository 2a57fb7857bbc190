"""Fixtures of the reliability tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared import db


@pytest.fixture
async def pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool on a database of its own, migrated to head; dropped afterwards."""
    from tests.support.stack import Isolated

    iso = await asyncio.to_thread(Isolated.create)
    pool = await db.create_pool(iso.database_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await asyncio.wait_for(pool.close(), timeout=10)
        await asyncio.to_thread(iso.drop)
