"""RabbitMQ connection, publishing (confirms, persistent) and consuming (explicit prefetch)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from shared import wire
from shared.events import EVENT_SCHEMA_VERSION
from shared.topology import Exchanges, declare_topology, stage_queue

__all__ = ["ATTEMPT_HEADER", "PARKED_HEADER", "Broker", "delivery_count", "header_count"]

logger = logging.getLogger(__name__)

# How many times the stage already tried this event (set when a retry is scheduled).
ATTEMPT_HEADER = "x-autodeploy-attempt"
# How many times a redelivery was left to a run still working on the event.
PARKED_HEADER = "x-autodeploy-parked"
# Messages survive a broker restart (with durable queues).
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


def header_count(message: AbstractIncomingMessage, name: str, default: int) -> int:
    """A positive integer header of ours, or ``default``."""
    value = (message.headers or {}).get(name, default)
    return value if isinstance(value, int) and value > 0 else default


def delivery_count(message: AbstractIncomingMessage) -> int:
    """How many times the broker delivered this message before (quorum queues count)."""
    value = (message.headers or {}).get("x-delivery-count", 0)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


class Broker:
    """One robust connection: a confirming channel to publish on, one per consumer."""

    def __init__(self, url: str, *, delivery_limit: int, coalesce_writes: bool = True) -> None:
        self._url = url
        self._delivery_limit = delivery_limit
        self._coalesce_writes = coalesce_writes
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchanges: Exchanges | None = None

    async def connect(self) -> None:
        """Connect (retrying in the background on loss) and declare the topology."""
        # Frames written in one event-loop turn leave in one write (`shared.wire`), unless
        # AMQP_COALESCE_WRITES turned the trick off.
        if self._coalesce_writes:
            self._connection = await wire.connect_robust(self._url)
        else:
            self._connection = await aio_pika.connect_robust(self._url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        assert self._channel is not None
        self._exchanges = await declare_topology(self._channel, delivery_limit=self._delivery_limit)

    async def close(self) -> None:
        """Close the connection (pending confirms are awaited by their publishers)."""
        if self._connection is not None:
            await self._connection.close()

    @property
    def is_connected(self) -> bool:
        """True while the connection is open."""
        return self._connection is not None and not self._connection.is_closed

    @property
    def channel(self) -> AbstractRobustChannel:
        """The publishing channel."""
        assert self._channel is not None, "Broker.connect() first"
        return self._channel

    async def publish(
        self,
        *,
        routing_key: str,
        body: bytes,
        event_id: UUID | str,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Publish one event (its JSON) to the events exchange; returns once confirmed.

        This goes straight to aiormq's channel with ``wait=False``: the frame is queued
        without holding the channel's lock until it is written, so the publishes of a
        batch leave the socket together (`shared.wire`). The confirm is still awaited (a
        nack raises ``DeliveryError``). Not ``mandatory``: an event no queue is bound to
        (``job.completed``) is dropped by the broker, not returned to us.
        """
        assert self._exchanges is not None, "Broker.connect() first"
        channel = cast(aiormq.Channel, await self.channel.get_underlay_channel())
        await channel.basic_publish(
            body,
            exchange=self._exchanges.events.name,
            routing_key=routing_key,
            properties=_properties(routing_key, event_id, headers),
            mandatory=False,
            wait=False,
        )

    async def publish_retry(
        self,
        message: AbstractIncomingMessage,
        *,
        queue: str,
        attempt: int,
        delay_s: float,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Put a copy of a message in a retry queue; it returns to its stage after the delay."""
        copied = dict(message.headers or {})
        copied.pop("x-delivery-count", None)
        copied.pop("x-death", None)
        headers = {**copied, **(headers or {}), ATTEMPT_HEADER: attempt}
        retry = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            timestamp=message.timestamp,
            expiration=max(delay_s, 0.001),
        )
        await self.channel.default_exchange.publish(retry, routing_key=queue)

    async def consume(
        self,
        stage: str,
        callback: Callable[[AbstractIncomingMessage], Awaitable[None]],
        *,
        prefetch: int,
    ) -> None:
        """Consume a stage's queue with at most ``prefetch`` unacknowledged messages."""
        await self.consume_queue(stage_queue(stage).name, callback, prefetch=prefetch)

    async def consume_queue(
        self,
        queue_name: str,
        callback: Callable[[AbstractIncomingMessage], Awaitable[None]],
        *,
        prefetch: int,
    ) -> None:
        """Consume a declared queue by name on a channel of its own."""
        assert self._connection is not None, "Broker.connect() first"
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name, ensure=True)
        await queue.consume(callback, no_ack=False)


def _properties(
    routing_key: str, event_id: UUID | str, headers: Mapping[str, Any] | None
) -> aiormq.spec.Basic.Properties:
    return aiormq.spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=PERSISTENT,
        message_id=str(event_id),
        message_type=routing_key,
        timestamp=datetime.now(UTC),
        headers={"schema_version": EVENT_SCHEMA_VERSION, **(headers or {})},
    )
