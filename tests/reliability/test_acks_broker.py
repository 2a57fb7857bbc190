"""Coalesced acks on the real RabbitMQ: a multiple-ack never settles a delivery still at work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from shared.acks import Acks

pytestmark = pytest.mark.integration


@pytest.fixture
async def amqp_url() -> AsyncIterator[str]:
    from tests.support.stack import Isolated

    iso = await asyncio.to_thread(Isolated.create)
    try:
        yield iso.amqp_url
    finally:
        await asyncio.to_thread(iso.drop)


async def _receive(
    queue: aio_pika.abc.AbstractQueue, n: int
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    arrived = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        got.append(message)
        if len(got) == n:
            arrived.set()

    tag = await queue.consume(on_message)
    await asyncio.wait_for(arrived.wait(), timeout=10)
    await queue.cancel(tag)
    return got


async def test_finished_deliveries_are_settled_and_the_one_at_work_comes_back(amqp_url) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=50)
        queue = await channel.declare_queue("acks-test", durable=True)
        for n in range(40):
            await channel.default_exchange.publish(
                aio_pika.Message(str(n).encode()), routing_key="acks-test"
            )
        messages = await _receive(queue, 40)
        at_work = messages[17]
        acks = Acks()
        # Two flushes: the first 17 together, then the 22 past the one still at work.
        await asyncio.gather(*(acks.ack(m) for m in messages[:17]))
        await asyncio.gather(*(acks.ack(m) for m in messages[18:]))
        assert acks.acked == 39
        assert acks.frames < 39  # coalesced: at least the first 17 went as one frame
        # A round trip: had any ack named an unknown tag, the broker closed the channel.
        await channel.declare_queue("acks-test", durable=True, passive=True)
        assert not channel.is_closed
        await channel.close()  # what is unacked now goes back to the queue

        channel = await connection.channel()
        queue = await channel.declare_queue("acks-test", durable=True, passive=True)
        (again,) = await _receive(queue, 1)
        assert again.body == at_work.body and again.redelivered
        await again.ack()
        await asyncio.sleep(0.2)
        assert await queue.get(fail=False) is None  # nothing else came back
    finally:
        await connection.close()
