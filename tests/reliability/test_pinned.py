"""`db.PinnedConnection` on the real PostgreSQL: one connection kept, given back on error."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared import db

pytestmark = pytest.mark.integration


def _backend(conn: asyncpg.Connection) -> object:
    return conn.fetchval("SELECT pg_backend_pid()")


async def test_statements_share_one_connection_held_out_of_the_pool(pool) -> None:
    pinned = db.PinnedConnection(pool)
    first = await pinned.run(_backend)
    for _ in range(5):
        assert await pinned.run(_backend) == first
    # Other users of the pool get other connections meanwhile.
    async with pool.acquire() as other:
        assert await other.fetchval("SELECT pg_backend_pid()") != first
    idle = pool.get_idle_size()
    await pinned.release()
    assert pool.get_idle_size() == idle + 1
    await pinned.release()  # twice is harmless
    assert pool.get_idle_size() == idle + 1


async def test_an_error_gives_the_connection_back_and_the_next_statement_works(pool) -> None:
    pinned = db.PinnedConnection(pool)
    await pinned.run(_backend)
    idle = pool.get_idle_size()
    with pytest.raises(asyncpg.DivisionByZeroError):
        await pinned.run(lambda conn: conn.fetchval("SELECT 1/0"))
    assert pool.get_idle_size() == idle + 1  # back in the pool, not kept
    assert await pinned.run(lambda conn: conn.fetchval("SELECT 41 + 1")) == 42
    await pinned.release()


async def test_a_connection_the_server_killed_is_replaced(pool) -> None:
    pinned = db.PinnedConnection(pool)
    victim = await pinned.run(_backend)
    async with pool.acquire() as other:
        await other.execute("SELECT pg_terminate_backend($1)", victim)
    # What asyncpg raises depends on when it reads the server's goodbye.
    with pytest.raises(Exception):  # noqa: B017
        await pinned.run(_backend)
    assert await pinned.run(_backend) != victim  # a fresh connection
    await pinned.release()


async def test_the_pool_closes_once_the_connection_is_released(pool) -> None:
    pinned = db.PinnedConnection(pool)
    await pinned.run(_backend)
    await pinned.release()
    await asyncio.wait_for(pool.close(), timeout=5)
