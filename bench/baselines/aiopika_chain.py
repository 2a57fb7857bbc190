"""The broker ceiling for the pipeline: the same hops in raw aio-pika, no database.

A driver publishes one message per job to ``bench.raw.1``; four stage processes
(``python -m bench.baselines.aiopika_chain <amqp-url> <n> <prefetch>``, n = 1..4) each consume
their quorum queue with manual acks and an explicit prefetch, publish the message on to
the next queue (persistent, publisher confirms), and ack only after the confirm. Stage 4
publishes to ``bench.raw.done``, where the driver counts completions: five publishes and
five consumes per job, like gateway → analyzer → generator → provisioner → verifier →
completed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

__all__ = ["HOPS", "declare", "queue_name", "run_jobs", "run_one_at_a_time"]

HOPS = 4
QUEUE_ARGS = {"x-queue-type": "quorum"}


def queue_name(n: int) -> str:
    return "bench.raw.done" if n > HOPS else f"bench.raw.{n}"


def _message(body: bytes, message_id: str) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
    )


async def declare(url: str) -> None:
    """Declare the chain's queues (durable quorum queues, like the stage queues)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for n in range(1, HOPS + 2):
            await channel.declare_queue(queue_name(n), durable=True, arguments=QUEUE_ARGS)


async def stage(url: str, n: int, prefetch: int) -> None:
    """Consume hop n, forward to hop n+1 with a confirm, then ack; runs until killed."""
    connection = await aio_pika.connect(url)
    publish_channel = await connection.channel(publisher_confirms=True)
    consume_channel = await connection.channel(publisher_confirms=False)
    await consume_channel.set_qos(prefetch_count=prefetch)
    queue = await consume_channel.get_queue(queue_name(n), ensure=True)
    target = queue_name(n + 1)

    async def on_message(message: AbstractIncomingMessage) -> None:
        await publish_channel.default_exchange.publish(
            _message(message.body, message.message_id or ""), routing_key=target
        )
        await message.ack()

    await queue.consume(on_message, no_ack=False)
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.Future()


def _body(job_id: str) -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "job_id": job_id,
            "request": {
                "repo_url": "https://git.bench.invalid/team/app",
                "description": "deploy this Flask app, it needs a Postgres",
            },
        }
    ).encode()


async def run_jobs(url: str, jobs: int, *, in_flight: int = 32) -> float:
    """Push ``jobs`` messages through the chain; seconds from first publish to last done."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        done_channel = await connection.channel()
        done_queue = await done_channel.get_queue(queue_name(HOPS + 1), ensure=True)
        finished = asyncio.Event()
        count = 0

        async def on_done(message: AbstractIncomingMessage) -> None:
            nonlocal count
            count += 1
            if count >= jobs:
                finished.set()

        await done_queue.consume(on_done, no_ack=True)
        limit = asyncio.Semaphore(in_flight)

        async def submit() -> None:
            async with limit:
                job_id = str(uuid.uuid4())
                await channel.default_exchange.publish(
                    _message(_body(job_id), job_id), routing_key=queue_name(1)
                )

        started = time.perf_counter()
        await asyncio.gather(*(submit() for _ in range(jobs)))
        await asyncio.wait_for(finished.wait(), timeout=600)
        return time.perf_counter() - started


async def run_one_at_a_time(url: str, jobs: int) -> list[float]:
    """Latency (ms) of single jobs through the chain, one after the other."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        done_channel = await connection.channel()
        done_queue = await done_channel.get_queue(queue_name(HOPS + 1), ensure=True)
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def on_done(message: AbstractIncomingMessage) -> None:
            arrived.put_nowait(time.perf_counter())

        await done_queue.consume(on_done, no_ack=True)
        out: list[float] = []
        for _ in range(jobs):
            job_id = str(uuid.uuid4())
            started = time.perf_counter()
            await channel.default_exchange.publish(
                _message(_body(job_id), job_id), routing_key=queue_name(1)
            )
            out.append((await asyncio.wait_for(arrived.get(), timeout=30) - started) * 1000)
        return out


if __name__ == "__main__":
    asyncio.run(stage(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
