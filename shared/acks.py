"""Acknowledgements that go out together: one multiple-ack for a run of finished deliveries.

A stage that group-commits finishes several deliveries in the same turn of the event
loop. Acked one by one, each is a frame, a socket write and work for the broker;
`Acks` collects the acks asked for in one turn and, at its end, sends one
``basic.ack(multiple=True)`` for the longest run that can be covered, and single acks for
the rest.

What makes a multiple-ack safe: it settles *every* unacked delivery up to its tag on
that channel, so it may only cover deliveries this process finished. Delivery tags are
consecutive per channel (1, 2, 3…), so a run from the lowest tag not yet settled up to
tag T is coverable only if each tag in it is finished (asking for an ack now) or already
settled (acked alone earlier, rejected, requeued). A delivery still at work, or one that
arrived but was not handed to the stage yet, is a gap: nothing beyond it is covered, and
the finished ones past the gap are acked singly, at once, so no ack waits for a slow
neighbour. Rejects and nacks go out immediately and are recorded as settled only once
their frame is written, so a later multiple-ack can never overtake them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

__all__ = ["Acks"]


@dataclass
class _Channel:
    """Settlement state of one consumer channel (tags restart on a reopened channel)."""

    low: int = 1  # every tag below this is settled
    settled: set[int] = field(default_factory=set)  # settled tags >= low
    ready: dict[int, tuple[AbstractIncomingMessage, asyncio.Future[None]]] = field(
        default_factory=dict
    )


class Acks:
    """Acks deliveries, coalescing those finished in the same turn of the event loop."""

    def __init__(self) -> None:
        self._channels: dict[Any, _Channel] = {}
        self._flush_scheduled = False
        self._sending: set[asyncio.Task[None]] = set()
        self.frames = 0  # ack frames sent (deliveries acked / frames = coalescing)
        self.acked = 0

    async def ack(self, message: AbstractIncomingMessage) -> None:
        """Ack a finished delivery (returns once its ack frame is written)."""
        tag = message.delivery_tag
        if tag is None:  # not from a consumer: nothing to coalesce
            await message.ack()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._state(message).ready[tag] = (message, future)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        await future

    async def reject(self, message: AbstractIncomingMessage, *, requeue: bool) -> None:
        """Reject (dead-letter, or requeue) a delivery now, then count it settled."""
        if requeue:
            await message.nack(requeue=True)
        else:
            await message.reject(requeue=False)
        self._settled(message)

    def _state(self, message: AbstractIncomingMessage) -> _Channel:
        channel = message.channel
        state = self._channels.get(channel)
        if state is None:
            # A reopened channel numbers from 1 again; forget the closed ones.
            for old in [c for c in self._channels if getattr(c, "is_closed", False)]:
                del self._channels[old]
            state = self._channels[channel] = _Channel()
        return state

    def _settled(self, message: AbstractIncomingMessage) -> None:
        tag = message.delivery_tag
        if tag is None:
            return
        state = self._state(message)
        if tag >= state.low:
            state.settled.add(tag)

    def _flush(self) -> None:
        self._flush_scheduled = False
        for state in list(self._channels.values()):
            if state.ready:
                self._flush_channel(state)

    def _flush_channel(self, state: _Channel) -> None:
        # The run from the lowest unsettled tag over finished or settled tags.
        tag, top = state.low, None
        while tag in state.ready or tag in state.settled:
            if tag in state.ready:
                top = tag
            tag += 1
        groups: list[tuple[AbstractIncomingMessage, bool, list[asyncio.Future[None]]]] = []
        if top is not None:
            covered = [state.ready.pop(t) for t in sorted(state.ready) if t <= top]
            groups.append((covered[-1][0], len(covered) > 1, [f for _, f in covered]))
            state.settled = {t for t in state.settled if t > top}
            state.low = top + 1
            while state.low in state.settled:  # settled tags just past the run
                state.settled.discard(state.low)
                state.low += 1
        for t in sorted(state.ready):  # past a gap: one by one, now
            message, future = state.ready.pop(t)
            state.settled.add(t)
            groups.append((message, False, [future]))
        for message, multiple, futures in groups:
            task = asyncio.create_task(self._send(message, multiple, futures))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(
        self, message: AbstractIncomingMessage, multiple: bool, futures: list[asyncio.Future[None]]
    ) -> None:
        try:
            await message.ack(multiple=multiple)
        except Exception as exc:
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        self.frames += 1
        self.acked += len(futures)
        for future in futures:
            if not future.done():
                future.set_result(None)
