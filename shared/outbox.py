"""The outbox relay: publishes committed events, then deletes them.

A stage writes its state change and its next event in one transaction (`db.enqueue`).
The relay publishes what was committed, waits for the broker's confirm, and only then
deletes the row, so an event is never lost; a crash between confirm and delete means it
is published twice, which consumers absorb because they are idempotent on ``event_id``.
The delete rides along with the process's next write (`deleting_published`: the stage's
commit, the gateway's insert), sparing a transaction of its own; when no write comes
within ``delete_linger_s``, the relay deletes the rows itself.
Every process runs a relay and drains right after its own commits (``wake``); a slow
poll picks up anything left behind by a process that died between commit and publish.
``FOR UPDATE SKIP LOCKED`` keeps relays off each other's rows. (No LISTEN/NOTIFY: waking
every relay on every commit cost more round trips than it saved.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

from shared.bus import Broker
from shared.db import OutboxRow
from shared.events import ROUTING_KEYS
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_LAG

__all__ = ["OutboxRelay"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_DELETE = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"


class OutboxRelay:
    """Publishes outbox rows as soon as their process commits them, polling as a safety net."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: Broker,
        *,
        poll_interval: float = 1.0,
        batch_size: int = 200,
        delete_linger_s: float = 0.2,
    ) -> None:
        self._pool = pool
        self._broker = broker
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: list[OutboxRow] = []
        self._flusher: asyncio.Task[None] | None = None
        # Ids of rows the broker confirmed that are not deleted yet, and since when the
        # oldest of them waits (event-loop time).
        self._published: list[int] = []
        self._published_since = 0.0
        self._delete_linger_s = delete_linger_s
        self._deleter: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Drain now (called by this process right after it committed an event)."""
        self._wakeup.set()

    def hand_off(self, rows: Sequence[OutboxRow]) -> None:
        """Publish rows this process just committed, without querying for them.

        Rows handed off while a flush is under way wait for the next one, so under load
        many rows share one round of confirms; alone, a row goes at once.
        The rows are not locked, so a polling relay may publish one of them too: that is a
        duplicate delivery, which consumers absorb; it is never a lost event.
        """
        self._pending.extend(rows)
        if self._pending and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush_pending())

    async def _flush_pending(self) -> None:
        while self._pending:
            rows, self._pending = (
                self._pending[: self._batch_size],
                self._pending[self._batch_size :],
            )
            try:
                await self._publish(rows)
            except Exception as exc:
                logger.warning("outbox hand-off: %s; the relay will retry", exc)
                self.wake()
                continue
            self._keep_published([r.id for r in rows], since=asyncio.get_running_loop().time())
            if self._deleter is None or self._deleter.done():
                self._deleter = asyncio.create_task(self._delete_published())

    async def deleting_published(self, write: Callable[[list[int]], Awaitable[T]]) -> T:
        """Run ``write`` with the ids of published rows, for its transaction to delete.

        ``write`` is a statement this process sends anyway (a stage's commit, the
        gateway's insert); deleting the published rows in it spares them a transaction
        of their own. If it fails, the ids are kept for the next write (or the linger).
        """
        ids, self._published = self._published, []
        since = self._published_since
        try:
            return await write(ids)
        except BaseException:
            self._keep_published(ids, since=since)
            raise

    def _keep_published(self, ids: list[int], *, since: float) -> None:
        if not self._published or since < self._published_since:
            self._published_since = since
        self._published.extend(ids)

    async def _delete_published(self) -> None:
        """Delete published rows that no write of this process took along in time.

        A row is left ``delete_linger_s`` from its confirm for a write to take; rows
        confirmed after a write took the older ones get their own full linger.
        """
        loop = asyncio.get_running_loop()
        while self._published:
            wait = self._published_since + self._delete_linger_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue  # a write may have taken them meanwhile, and newer ones come
            try:
                await self._delete_published_now()
            except Exception as exc:  # kept, so a drain of this process skips them
                logger.warning("outbox: published rows not deleted yet (%s); retrying", exc)
                await asyncio.sleep(self._poll_interval)

    async def _publish(self, rows: Sequence[OutboxRow]) -> None:
        publishes = [
            self._broker.publish(routing_key=r.routing_key, body=r.body, event_id=r.event_id)
            for r in rows
        ]
        # Together, their frames leave in one write (`shared.wire`); alone, no task is needed.
        await (publishes[0] if len(publishes) == 1 else asyncio.gather(*publishes))
        now = datetime.now(UTC)
        for r in rows:
            EVENTS_PUBLISHED.labels(r.routing_key).inc()
            OUTBOX_LAG.observe((now - r.created_at).total_seconds())

    def start(self) -> None:
        """Run the relay in the background."""
        for key in ROUTING_KEYS:  # series exist at zero before the first event
            EVENTS_PUBLISHED.labels(key)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the background relay; published rows not deleted yet are deleted now."""
        for task in (self._task, self._deleter):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._published:
            # Left behind, they would only be published again (a duplicate) by a poll.
            with contextlib.suppress(Exception):
                await self._delete_published_now()

    async def _delete_published_now(self) -> None:
        await self.deleting_published(lambda ids: self._pool.execute(_DELETE, ids))

    async def _run(self) -> None:
        woken = True
        while True:
            try:
                # A poll leaves fresh rows to the hand-off of the process that wrote them,
                # so the two rarely publish the same event twice.
                await self.drain(min_age_s=0.0 if woken else 2.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep relaying through broker/database outages
                logger.warning("outbox relay: %s; retrying", exc)
                await asyncio.sleep(self._poll_interval)
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)
                woken = True
            self._wakeup.clear()

    async def drain(self, *, min_age_s: float = 0.0) -> int:
        """Publish committed outbox rows at least ``min_age_s`` old; returns how many."""
        published = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                # Rows this process published and has yet to delete are not due again.
                rows = await conn.fetch(
                    "SELECT id, event_id, routing_key, payload::text AS body, created_at "
                    "FROM outbox "
                    "WHERE created_at <= clock_timestamp() - make_interval(secs => $2) "
                    "AND id <> ALL($3::bigint[]) "
                    "ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $1",
                    self._batch_size,
                    min_age_s,
                    self._published,
                )
                if not rows:
                    return published
                await self._publish([_outbox_row(r) for r in rows])
                await conn.execute(_DELETE, [r["id"] for r in rows])
            published += len(rows)
            if len(rows) < self._batch_size:
                return published


def _outbox_row(row: Mapping[str, Any]) -> OutboxRow:
    """An outbox row as read back by the relay (its payload as JSON text)."""
    return OutboxRow(
        row["id"], row["event_id"], row["routing_key"], row["body"].encode(), row["created_at"]
    )
