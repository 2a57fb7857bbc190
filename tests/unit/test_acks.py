"""Coalesced acks: which frames go out for which finished deliveries (a recording channel)."""

from __future__ import annotations

import asyncio

import pytest

from shared.acks import Acks


class Channel:
    """Records the settlement frames in the order they are written."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, int, bool]] = []
        self.fail = False
        self.is_closed = False


class Message:
    """The part of an aio-pika IncomingMessage that `Acks` uses."""

    def __init__(self, channel: Channel, tag: int) -> None:
        self.channel = channel
        self.delivery_tag = tag

    async def ack(self, multiple: bool = False) -> None:
        if self.channel.fail:
            raise ConnectionError("channel closed")
        self.channel.frames.append(("ack", self.delivery_tag, multiple))

    async def reject(self, requeue: bool = False) -> None:
        self.channel.frames.append(("reject", self.delivery_tag, requeue))

    async def nack(self, requeue: bool = True) -> None:
        self.channel.frames.append(("nack", self.delivery_tag, requeue))


async def _ack_together(acks: Acks, messages: list[Message]) -> None:
    """Ask for these acks in one turn of the loop, and wait for them."""
    await asyncio.gather(*(acks.ack(m) for m in messages))  # type: ignore[arg-type]


async def test_deliveries_finished_together_go_out_as_one_multiple_ack() -> None:
    channel, acks = Channel(), Acks()
    await _ack_together(acks, [Message(channel, t) for t in (2, 1, 3)])
    assert channel.frames == [("ack", 3, True)]
    assert (acks.frames, acks.acked) == (1, 3)


async def test_a_delivery_still_at_work_is_never_covered() -> None:
    channel, acks = Channel(), Acks()
    # Tag 1 is still being worked on: 2 and 3 must not wait for it, nor cover it.
    await _ack_together(acks, [Message(channel, 2), Message(channel, 3)])
    assert channel.frames == [("ack", 2, False), ("ack", 3, False)]
    await _ack_together(acks, [Message(channel, 1)])
    assert channel.frames[-1] == ("ack", 1, False)
    # Everything up to 3 is settled: 4 and 5 together cover only themselves.
    await _ack_together(acks, [Message(channel, 4), Message(channel, 5)])
    assert channel.frames[-1] == ("ack", 5, True)


async def test_a_tag_not_seen_yet_is_a_gap() -> None:
    channel, acks = Channel(), Acks()
    await _ack_together(acks, [Message(channel, 1), Message(channel, 3)])
    assert channel.frames == [("ack", 1, False), ("ack", 3, False)]


async def test_a_reject_goes_out_first_and_a_later_run_spans_it() -> None:
    channel, acks = Channel(), Acks()
    await acks.reject(Message(channel, 2), requeue=False)  # type: ignore[arg-type]
    await acks.reject(Message(channel, 4), requeue=True)  # type: ignore[arg-type]
    await _ack_together(acks, [Message(channel, 1), Message(channel, 3), Message(channel, 5)])
    assert channel.frames == [
        ("reject", 2, False),
        ("nack", 4, True),
        ("ack", 5, True),  # covers 1, 3 and 5; 2 and 4 were settled before it
    ]


async def test_a_reopened_channel_numbers_from_one_again() -> None:
    old, new, acks = Channel(), Channel(), Acks()
    await _ack_together(acks, [Message(old, 1), Message(old, 2)])
    old.is_closed = True
    await _ack_together(acks, [Message(new, 1), Message(new, 2)])
    assert old.frames == [("ack", 2, True)] and new.frames == [("ack", 2, True)]


async def test_a_failed_ack_fails_every_delivery_it_covered() -> None:
    channel, acks = Channel(), Acks()
    channel.fail = True
    results = await asyncio.gather(
        *(acks.ack(Message(channel, t)) for t in (1, 2)),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_acks_asked_for_in_different_turns_are_not_held_back() -> None:
    channel, acks = Channel(), Acks()
    await asyncio.wait_for(acks.ack(Message(channel, 1)), timeout=1)  # type: ignore[arg-type]
    await asyncio.wait_for(acks.ack(Message(channel, 2)), timeout=1)  # type: ignore[arg-type]
    assert channel.frames == [("ack", 1, False), ("ack", 2, False)]


@pytest.mark.parametrize("order", [(1, 2, 3, 4), (4, 3, 2, 1), (2, 4, 1, 3), (3, 1, 4, 2)])
async def test_the_broker_sees_every_delivery_settled_once_and_no_unknown_tag(
    order: tuple[int, ...],
) -> None:
    channel, acks = Channel(), Acks()
    pending = [asyncio.create_task(acks.ack(Message(channel, order[0])))]  # type: ignore[arg-type]
    for tag in order[1:]:  # one per turn of the loop, some turns sharing a flush
        await asyncio.sleep(0)
        pending.append(asyncio.create_task(acks.ack(Message(channel, tag))))  # type: ignore[arg-type]
    await asyncio.gather(*pending)
    unacked = {1, 2, 3, 4}  # the broker's view: acking an unknown tag closes the channel
    for _, tag, multiple in channel.frames:
        assert tag in unacked, channel.frames
        unacked -= {t for t in unacked if t <= tag} if multiple else {tag}
    assert unacked == set(), channel.frames
