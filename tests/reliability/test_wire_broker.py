"""Publishing through `shared.wire` on the real RabbitMQ: one batch, few socket writes.

The relay publishes a batch of events at once; their frames must leave the socket
together, each still confirmed and delivered with its properties intact.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from shared.acks import Acks
from shared.bus import Broker
from shared.events import EVENT_SCHEMA_VERSION
from shared.topology import stage_queue
from shared.wire import CoalescingRobustConnection

pytestmark = pytest.mark.integration


@pytest.fixture
async def broker() -> AsyncIterator[tuple[Broker, str]]:
    from tests.support.stack import Isolated

    iso = await asyncio.to_thread(Isolated.create)
    broker = Broker(iso.amqp_url, delivery_limit=5)
    await broker.connect()
    try:
        yield broker, iso.amqp_url
    finally:
        await broker.close()
        await asyncio.to_thread(iso.drop)


async def _take(amqp_url: str, n: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(amqp_url)
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(stage_queue("analyzer").name)
        while len(got) < n:
            message = await queue.get(timeout=5, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            await message.ack()
            got.append(message)
    finally:
        await connection.close()
    return got


async def test_a_batch_of_publishes_shares_socket_writes(broker) -> None:
    broker, amqp_url = broker
    connection = broker._connection
    assert isinstance(connection, CoalescingRobustConnection)
    writer = connection.transport_factory.writer
    assert writer is not None
    frames, writes = writer.frames, writer.writes
    ids = [uuid.uuid4() for _ in range(60)]
    await asyncio.gather(
        *(
            broker.publish(routing_key="job.requested", body=b'{"n":%d}' % n, event_id=event_id)
            for n, event_id in enumerate(ids)
        )
    )  # every one confirmed by the broker
    assert writer.frames - frames == 60
    assert writer.writes - writes <= 6, writer.writes - writes

    got = await _take(amqp_url, 60)
    assert sorted(m.message_id or "" for m in got) == sorted(str(i) for i in ids)
    first = next(m for m in got if json.loads(m.body) == {"n": 0})
    assert first.body == b'{"n":0}'
    assert first.type == "job.requested"
    assert first.content_type == "application/json"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (first.headers or {})["schema_version"] == EVENT_SCHEMA_VERSION
    assert first.timestamp is not None


async def test_an_event_no_queue_takes_is_confirmed_and_dropped(broker) -> None:
    broker, _ = broker
    # job.completed is bound to no stage queue: the broker confirms it and drops it.
    await asyncio.wait_for(
        broker.publish(routing_key="job.completed", body=b"{}", event_id=uuid.uuid4()), 5
    )
    await broker.publish(routing_key="job.requested", body=b'{"after":1}', event_id=uuid.uuid4())


async def test_an_ack_and_a_publish_asked_for_together_share_one_write(broker) -> None:
    # A stage settles a delivery by handing the next event to the relay (a publish in a
    # task of its own) and acking; aiormq queues the two frames a step apart.
    broker, _ = broker
    writer = broker._connection.transport_factory.writer
    await broker.publish(routing_key="job.requested", body=b'{"n":1}', event_id=uuid.uuid4())
    settled: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
    acks = Acks()

    async def settle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if settled.done():
            return
        await asyncio.sleep(0.05)  # let the delivery's own reads settle
        frames, writes = writer.frames, writer.writes
        publish = asyncio.create_task(
            broker.publish(routing_key="job.analyzed", body=b"{}", event_id=uuid.uuid4())
        )
        await acks.ack(message)
        await publish  # confirmed
        settled.set_result((writer.frames - frames, writer.writes - writes))

    await broker.consume("analyzer", settle, prefetch=1)
    assert await asyncio.wait_for(settled, 10) == (2, 1)
