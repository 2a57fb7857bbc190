"""The whole RabbitMQ topology, declared in one place.

    autodeploy.events (topic) ──job.requested──▶ autodeploy.analyzer
                              ──job.analyzed───▶ autodeploy.generator ◀──job.repair
                              ──job.generated──▶ autodeploy.provisioner ◀──job.teardown
                              ──job.provisioned▶ autodeploy.verifier

Brief-to-site tasks take the same four queues with `task.*` routing keys.

Stage queues are quorum queues: durable, replicated when the broker is a cluster, and
with a broker-side ``x-delivery-limit`` so that a message which crashes its consumer
every time is dead-lettered instead of looping.

Retries with backoff go through a per-stage ``.retry`` queue: the message waits there for
its per-message TTL, then is dead-lettered straight back into its stage queue.

Messages that are given up on go to ``autodeploy.dead-letter`` (fanout): the
``autodeploy.dead-letter`` queue keeps them for people to inspect or replay, and
``autodeploy.dead-letter.bookkeeping`` lets the verifier mark their jobs failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

__all__ = [
    "DEAD_LETTER_BOOKKEEPING_QUEUE",
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
    "EVENTS_EXCHANGE",
    "STAGES",
    "Exchanges",
    "StageQueue",
    "declare_topology",
    "retry_queue_name",
    "stage_queue",
]

EVENTS_EXCHANGE = "autodeploy.events"
DEAD_LETTER_EXCHANGE = "autodeploy.dead-letter"
DEAD_LETTER_QUEUE = "autodeploy.dead-letter"
DEAD_LETTER_BOOKKEEPING_QUEUE = "autodeploy.dead-letter.bookkeeping"


@dataclass(frozen=True)
class StageQueue:
    """A stage's queue and the routing keys bound to it."""

    stage: str
    name: str
    routing_keys: tuple[str, ...]


STAGES: dict[str, StageQueue] = {
    q.stage: q
    for q in (
        StageQueue("analyzer", "autodeploy.analyzer", ("job.requested", "task.requested")),
        StageQueue(
            "generator",
            "autodeploy.generator",
            ("job.analyzed", "job.repair", "task.analyzed", "task.repair"),
        ),
        StageQueue(
            "provisioner",
            "autodeploy.provisioner",
            ("job.generated", "job.teardown", "task.generated"),
        ),
        StageQueue("verifier", "autodeploy.verifier", ("job.provisioned", "task.published")),
    )
}


def stage_queue(stage: str) -> StageQueue:
    """The queue of a stage by its name."""
    return STAGES[stage]


def retry_queue_name(stage: str) -> str:
    """The queue where a stage's messages wait out their retry delay."""
    return f"{STAGES[stage].name}.retry"


@dataclass(frozen=True)
class Exchanges:
    """Handles on the declared exchanges."""

    events: AbstractExchange
    dead_letter: AbstractExchange


async def declare_topology(channel: AbstractChannel, *, delivery_limit: int) -> Exchanges:
    """Declare every exchange, queue and binding; safe to call from every process."""
    events = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dead = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    for name in (DEAD_LETTER_QUEUE, DEAD_LETTER_BOOKKEEPING_QUEUE):
        dq = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        await dq.bind(dead)
    for sq in STAGES.values():
        queue = await channel.declare_queue(
            sq.name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-delivery-limit": delivery_limit,
            },
        )
        for key in sq.routing_keys:
            await queue.bind(events, routing_key=key)
        # Expired retries return to the stage queue through the default exchange.
        await channel.declare_queue(
            retry_queue_name(sq.stage),
            durable=True,
            arguments={
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": sq.name,
            },
        )
    return Exchanges(events=events, dead_letter=dead)
