"""Sockets whose writes of one event-loop turn leave in one write (the AMQP connection).

aiormq writes every publish and every ack to the socket on its own, so each is a send
system call, a loopback TCP segment and a wake-up of RabbitMQ. Under load a stage sends
many in one turn of the event loop (the relay publishes a batch, acks go together), and
those calls were the largest single item of a stage's CPU. The writer here gathers what
is written during a turn and hands it to the transport as one write at the start of the
next turn (``loop.call_soon``): nothing waits for a timer, so one message alone leaves
as soon as it would have, and a burst leaves as one segment. The technique is the
socket cork some AMQP clients use, done in user space.

aiormq hands frames to its writer through a queue, one task step later. When, at the
turn's end, frames are still in that queue, the write waits one turn more (once) so
they leave with it: a stage's ack and the next event's publish, asked for together
after its commit, were two sends and two wake-ups of the broker.

aiormq opens the socket through its ``transport_factory`` (a documented extension
point); `CoalescingRobustConnection` gives it ours.

What this leans on beyond aio-pika's and aiormq's public API, each name checked by
tests/unit/test_wire_private_names.py so that a release which renames one fails there
with its name rather than at ``connect()``: ``RobustConnection._on_connected`` and
``RobustConnection.kwargs`` (aio-pika), ``Connection.write_queue`` and the class
attribute ``Connection.FRAME_BUFFER_SIZE`` (aiormq). ``AMQP_COALESCE_WRITES=false`` turns
it all off (`shared.bus.Broker` then uses ``aio_pika.connect_robust`` as shipped), and
``amqps://`` URLs always do: TLS is aiormq's own path, uncoalesced, and
tests/unit/test_wire.py checks that such a URL never reaches the writer here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aio_pika
import aiormq
from aiormq.connection import TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

__all__ = [
    "CoalescingRobustConnection",
    "CoalescingTransportFactory",
    "CoalescingWriter",
]


class _Turn:
    """What is written during one loop turn, handed to ``send`` as one write at the next."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        send: Callable[[bytes], None],
        closing: Callable[[], bool],
    ) -> None:
        self._loop = loop
        self._send = send
        self._closing = closing
        self.held: list[bytes] = []
        self.writes = 0  # writes handed on (fewer than frames under load)
        self.frames = 0  # writes asked for
        # How many writes are already on their way to us (queued by the client); at the
        # turn's end, if any are, the write waits one turn more for them.
        self.queued: Callable[[], int] | None = None
        self._waited = False

    def add(self, data: bytes | bytearray | memoryview) -> None:
        if not self.held:
            self._loop.call_soon(self._turn_ended)
        self.held.append(bytes(data))
        self.frames += 1

    def _turn_ended(self) -> None:
        if not self._waited and self.held and self.queued is not None and self.queued():
            self._waited = True  # once: a steady stream of frames cannot hold the socket
            self._loop.call_soon(self._turn_ended)
            return
        self._waited = False
        self.flush()

    def flush(self) -> None:
        if not self.held:
            return
        held, self.held = self.held, []
        if self._closing():  # a closing transport drops it
            return
        self.writes += 1
        self._send(held[0] if len(held) == 1 else b"".join(held))


class _HoldsTurn:
    """``write`` and ``flush`` through a `_Turn`, with its counts."""

    _turn: _Turn

    @property
    def writes(self) -> int:
        """Writes handed to the transport (fewer than frames under load)."""
        return self._turn.writes

    @property
    def frames(self) -> int:
        """Writes asked for."""
        return self._turn.frames

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold ``data`` until the end of this loop turn."""
        self._turn.add(data)

    def flush(self) -> None:
        """Hand what is held to the transport now (a closing transport drops it)."""
        self._turn.flush()


class CoalescingWriter(_HoldsTurn, asyncio.StreamWriter):
    """A stream writer whose writes of one loop turn go to the transport as one."""

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        protocol: asyncio.BaseProtocol,
        reader: asyncio.StreamReader | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(transport, protocol, reader, loop)
        self._turn = _Turn(loop, transport.write, transport.is_closing)

    @property
    def queued(self) -> Callable[[], int] | None:
        """How many frames the client has queued for this writer (set once connected)."""
        return self._turn.queued

    @queued.setter
    def queued(self, count: Callable[[], int] | None) -> None:
        self._turn.queued = count

    async def drain(self) -> None:
        """Wait while the transport's buffer is over its high-water mark.

        What is held is not flushed here: aiormq drains after every publish, and a
        flush per publish would undo the coalescing. At most one turn's writes are held.
        """
        await super().drain()

    def write_eof(self) -> None:
        """Flush what is held, then half-close."""
        self.flush()
        super().write_eof()

    def close(self) -> None:
        """Flush what is held, then close."""
        self.flush()
        super().close()


class CoalescingTransportFactory(TransportFactory):
    """Plain TCP to the broker, through a `CoalescingWriter` (the latest is ``writer``)."""

    writer: CoalescingWriter | None = None

    async def create(
        self, url: URL, **kwargs: Any
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open the connection (TLS is not handled here: amqps keeps aiormq's own)."""
        kwargs.pop("ssl_context_provider", None)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol, host=url.host or "localhost", port=url.port or 5672, **kwargs
            )
        except OSError as exc:
            raise AMQPConnectionError(*exc.args) from exc
        self.writer = CoalescingWriter(transport, protocol, reader, loop)
        return reader, self.writer


class CoalescingRobustConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection, opening its sockets through a `CoalescingTransportFactory`.

    aio-pika hands aiormq only the connection parameters it knows (and puts the ones
    given to ``connect_robust`` in the URL), so the factory is added to them here.
    """

    def __init__(self, url: URL, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.transport_factory = CoalescingTransportFactory()
        self.kwargs["transport_factory"] = self.transport_factory

    async def _on_connected(self) -> None:
        # On every (re)connection: the new writer learns what aiormq has queued for it.
        writer, transport = self.transport_factory.writer, self.transport
        if writer is not None and transport is not None:
            writer.queued = transport.connection.write_queue.qsize
        await super()._on_connected()


# aiormq queues at most FRAME_BUFFER_SIZE frames (10) for its writer task. With more
# publishes than that in flight, the rest wait in turn for the channel's lock and leave
# one per loop turn; a deeper queue lets a batch's frames reach the writer together.
FRAME_QUEUE = 256


async def connect_robust(url: str) -> aio_pika.abc.AbstractRobustConnection:
    """`aio_pika.connect_robust`, coalescing writes on plain ``amqp://`` URLs (amqps: plain)."""
    aiormq.Connection.FRAME_BUFFER_SIZE = max(aiormq.Connection.FRAME_BUFFER_SIZE, FRAME_QUEUE)
    if URL(url).scheme != "amqp":
        return await aio_pika.connect_robust(url)
    return await aio_pika.connect_robust(url, connection_class=CoalescingRobustConnection)
