"""Webhook delivery ids are remembered for a window, then forgotten (the table stays bounded)."""

from __future__ import annotations

import asyncpg
import pytest

from shared import app_store

pytestmark = pytest.mark.integration

DAY = 86400.0


async def test_old_deliveries_are_pruned_and_recent_ones_still_refuse_replays(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO webhook_deliveries (delivery_id, received_at) "
            "VALUES ($1, clock_timestamp() - make_interval(days => $2))",
            [(f"old-{n}", 8 + n) for n in range(50)] + [("recent", 6)],
        )
        assert await app_store.claim_delivery(conn, delivery_id="new", keep_s=7 * DAY)
        kept = {r["delivery_id"] for r in await conn.fetch("SELECT * FROM webhook_deliveries")}
        assert kept == {"recent", "new"}
        # Inside the window a replay is still refused, and pruning never frees a fresh id.
        assert not await app_store.claim_delivery(conn, delivery_id="recent", keep_s=7 * DAY)
        assert not await app_store.claim_delivery(conn, delivery_id="new", keep_s=7 * DAY)


async def test_the_prune_is_a_range_on_the_arrival_index(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN DELETE FROM webhook_deliveries "
                "WHERE received_at < now() - make_interval(secs => 60)"
            )
        )
    assert "webhook_deliveries_received_at" in plan, plan
