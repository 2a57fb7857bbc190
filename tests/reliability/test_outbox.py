"""The outbox relay on the real PostgreSQL and RabbitMQ: published rows are deleted late.

After the broker confirms a hand-off, its rows are deleted by the process's next write
(the gateway's insert, a stage's commit) or, if none comes, by the relay after a linger.
These tests hold that the rows go in both ways, that a row published and not yet deleted
is never published again by this process's own drain, and that a failed write keeps
the rows for the next one.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import asyncpg
import pytest

from shared import db
from shared.bus import Broker
from shared.events import JobRequest, JobRequested
from shared.outbox import OutboxRelay
from shared.topology import stage_queue

pytestmark = pytest.mark.integration


# Every test runs with `shared.wire`'s write coalescing on (the default) and off
# (AMQP_COALESCE_WRITES=false): the relay's guarantees must not depend on the trick.
@pytest.fixture(params=[True, False], ids=["coalesced", "plain"])
async def system(request) -> AsyncIterator[tuple[asyncpg.Pool, Broker, str]]:
    from tests.support.stack import Isolated

    iso = await asyncio.to_thread(Isolated.create)
    pool = await db.create_pool(iso.database_url, max_size=4)
    broker = Broker(iso.amqp_url, delivery_limit=5, coalesce_writes=request.param)
    await broker.connect()
    try:
        yield pool, broker, iso.amqp_url
    finally:
        await broker.close()
        await pool.close()
        await asyncio.to_thread(iso.drop)


def _new_job() -> db.NewJob:
    job_id = uuid.uuid4()
    request = JobRequest(repo_url="https://git.example.invalid/team/app", description="an app")
    return db.NewJob(
        job_id, "repository", request.public(), JobRequested(job_id=job_id, request=request)
    )


async def _outbox(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def _queued(amqp_url: str) -> int:
    """Messages waiting in the analyzer's queue (where job.requested goes)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(stage_queue("analyzer").name, passive=True)
        assert queue.declaration_result.message_count is not None
        return queue.declaration_result.message_count
    finally:
        await connection.close()


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _hand_off(pool: asyncpg.Pool, relay: OutboxRelay, amqp_url: str, n: int) -> None:
    """Insert n jobs, hand their rows to the relay and wait until the broker has them."""
    before = await _queued(amqp_url)
    relay.hand_off(await db.insert_jobs(pool, [_new_job() for _ in range(n)]))

    async def arrived() -> bool:
        return await _queued(amqp_url) == before + n

    await _until(arrived)


async def test_published_rows_go_with_the_next_write(system) -> None:
    pool, broker, amqp_url = system
    relay = OutboxRelay(pool, broker, delete_linger_s=3600)  # only a write deletes them
    await _hand_off(pool, relay, amqp_url, 5)
    await asyncio.sleep(0.2)
    assert await _outbox(pool) == 5  # published, not deleted yet

    # Nothing published and not yet deleted is due again: this process's drain skips them.
    assert await relay.drain() == 0
    assert await _queued(amqp_url) == 5

    rows = await relay.deleting_published(
        lambda ids: db.insert_jobs(pool, [_new_job()], delete_outbox=ids)
    )
    remaining = await pool.fetch("SELECT id FROM outbox")
    assert [r["id"] for r in remaining] == [rows[0].id]  # only the new job's row is left
    # The next write has nothing to delete.
    assert await relay.deleting_published(lambda ids: asyncio.sleep(0, result=ids)) == []


async def test_a_failed_write_keeps_the_rows_for_the_next(system) -> None:
    pool, broker, amqp_url = system
    relay = OutboxRelay(pool, broker, delete_linger_s=3600)
    await _hand_off(pool, relay, amqp_url, 3)

    async def failing(ids: list[int]) -> None:
        assert len(ids) == 3
        await pool.execute("SELECT 1/0")

    with pytest.raises(asyncpg.DivisionByZeroError):
        await relay.deleting_published(failing)
    assert await _outbox(pool) == 3
    rows = await relay.deleting_published(
        lambda ids: db.insert_jobs(pool, [_new_job()], delete_outbox=ids)
    )
    remaining = await pool.fetch("SELECT id FROM outbox")
    assert [r["id"] for r in remaining] == [rows[0].id]


async def test_without_a_write_the_relay_deletes_them_after_the_linger(system) -> None:
    pool, broker, amqp_url = system
    relay = OutboxRelay(pool, broker, delete_linger_s=0.05)
    await _hand_off(pool, relay, amqp_url, 4)

    async def empty() -> bool:
        return await _outbox(pool) == 0

    await _until(empty, timeout=5)
    assert await _queued(amqp_url) == 4  # published once each


async def test_stopping_deletes_what_was_published(system) -> None:
    pool, broker, amqp_url = system
    relay = OutboxRelay(pool, broker, delete_linger_s=3600)
    await _hand_off(pool, relay, amqp_url, 3)
    # Started only now: its first poll (age 0) could otherwise take the rows too, before
    # their confirms, and publish them twice (a duplicate, absorbed by consumers).
    relay.start()
    await relay.stop()
    assert await _outbox(pool) == 0
    assert await _queued(amqp_url) == 3


async def test_rows_confirmed_after_a_write_get_their_own_linger(system) -> None:
    """A write that took the older rows does not make the newer ones due early."""
    pool, broker, amqp_url = system
    linger = 2.0
    relay = OutboxRelay(pool, broker, delete_linger_s=linger)
    await _hand_off(pool, relay, amqp_url, 1)
    first_confirmed = time.monotonic()  # the first row's linger ends before this + linger
    await asyncio.sleep(0.2)
    await relay.deleting_published(
        lambda ids: pool.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)
    )
    assert await _outbox(pool) == 0
    await asyncio.sleep(0.6)
    second_handed = time.monotonic()  # the second row cannot be due before this + linger
    await _hand_off(pool, relay, amqp_url, 1)

    # Past the first row's linger, well before the second's: the second is still there.
    await asyncio.sleep(first_confirmed + linger + 0.4 - time.monotonic())
    assert time.monotonic() < second_handed + linger, "too slow to tell the lingers apart"
    assert await _outbox(pool) == 1

    async def empty() -> bool:
        return await _outbox(pool) == 0

    await _until(empty, timeout=5)  # and its own linger still deletes it


async def test_the_broker_gets_the_json_the_outbox_holds(system) -> None:
    # An event's JSON is encoded once (`db.event_json`): the outbox row stores it and the
    # hand-off publishes it; the relay's poll publishes the row's own payload.
    pool, broker, amqp_url = system
    relay = OutboxRelay(pool, broker, delete_linger_s=3600)
    handed, polled = _new_job(), _new_job()
    relay.hand_off(await db.insert_jobs(pool, [handed]))
    await db.insert_jobs(pool, [polled])
    stored = {
        r["event_id"]: r["payload"]
        for r in await pool.fetch("SELECT event_id, payload FROM outbox")
    }
    await _until(lambda: _queued_is(amqp_url, 1))
    assert await relay.drain() == 1

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(stage_queue("analyzer").name, passive=True)
        bodies = []
        for _ in range(2):
            message = await queue.get(timeout=5)
            assert message is not None
            bodies.append(message.body)
            await message.ack()
    finally:
        await connection.close()
    got = {JobRequested.model_validate_json(b).event_id: b for b in bodies}
    for job in (handed, polled):
        assert got[job.event.event_id] is not None
        assert JobRequested.model_validate_json(got[job.event.event_id]) == job.event
        assert json.loads(got[job.event.event_id]) == stored[job.event.event_id]


async def _queued_is(amqp_url: str, n: int) -> bool:
    return await _queued(amqp_url) == n
