"""`shared.wire`: the writes of one event-loop turn reach the socket as one, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from yarl import URL

from shared.wire import CoalescingTransportFactory, CoalescingWriter


@pytest.fixture
async def peer() -> AsyncIterator[tuple[URL, asyncio.Queue[bytes]]]:
    """A loopback server that puts every chunk it reads (and b'' at EOF) on a queue."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            received.put_nowait(chunk)
        received.put_nowait(b"")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield URL(f"amqp://127.0.0.1:{port}/"), received
    finally:
        server.close()
        await server.wait_closed()


async def _connect(url: URL) -> CoalescingWriter:
    _, writer = await CoalescingTransportFactory().create(url)
    assert isinstance(writer, CoalescingWriter)
    return writer


async def _read(received: asyncio.Queue[bytes], size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += await asyncio.wait_for(received.get(), timeout=5)
    return data


async def test_one_turns_writes_leave_as_one_write_in_order(peer) -> None:
    url, received = peer
    writer = await _connect(url)
    for n in range(5):
        writer.write(f"frame{n};".encode())
        await writer.drain()  # aiormq drains after each publish: that must not flush
    assert writer.writes == 0  # held until the turn ends
    assert await _read(received, 35) == b"frame0;frame1;frame2;frame3;frame4;"
    assert (writer.frames, writer.writes) == (5, 1)
    writer.close()


async def test_writes_of_separate_turns_are_not_held_back(peer) -> None:
    url, received = peer
    writer = await _connect(url)
    writer.write(b"first")
    assert await _read(received, 5) == b"first"  # nothing waits for company
    writer.write(b"second")
    assert await _read(received, 6) == b"second"
    assert (writer.frames, writer.writes) == (2, 2)
    writer.close()


async def test_frames_the_client_queued_behind_a_turn_leave_with_it(peer) -> None:
    # aiormq's writer task takes queued frames a step later: a publish is written in one
    # turn and the ack queued beside it reaches the writer in the next.
    url, received = peer
    writer = await _connect(url)
    loop = asyncio.get_running_loop()
    queue = [b"ack;"]
    writer.queued = lambda: len(queue)
    writer.write(b"publish;")
    loop.call_soon(lambda: writer.write(queue.pop()))  # runs after the turn's end
    assert await _read(received, 12) == b"publish;ack;"
    assert (writer.frames, writer.writes) == (2, 1)
    writer.close()


async def test_a_write_waits_for_queued_frames_one_turn_at_most(peer) -> None:
    url, received = peer
    writer = await _connect(url)
    writer.queued = lambda: 1  # a queue that never empties (a steady stream)
    writer.write(b"first")
    for _ in range(3):
        await asyncio.sleep(0)
    assert writer.writes == 1
    assert await _read(received, 5) == b"first"
    writer.close()


async def test_close_and_eof_send_what_is_held_first(peer) -> None:
    url, received = peer
    writer = await _connect(url)
    writer.write(b"last words")
    writer.write_eof()
    assert await _read(received, 10) == b"last words"
    assert await asyncio.wait_for(received.get(), timeout=5) == b""  # then the EOF
    writer.close()
    await writer.wait_closed()

    writer = await _connect(url)
    writer.write(b"bye")
    writer.close()
    assert await _read(received, 3) == b"bye"


async def test_an_unreachable_broker_is_an_amqp_connection_error() -> None:
    from aiormq.exceptions import AMQPConnectionError

    with pytest.raises(AMQPConnectionError):
        await CoalescingTransportFactory().create(URL("amqp://127.0.0.1:1/"))
