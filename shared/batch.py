"""Group commit: callers that arrive while a batch is in flight share the next one.

A stage handles up to its prefetch of deliveries at once, and each needs the same two
statements (begin a run, commit it); the gateway inserts a job per request. Sent one by
one, every statement is a round trip, a transaction and a WAL flush in PostgreSQL, and
a wake-up of both processes. A `Batcher` sends the first item at once (no added latency
when idle) and, while that round trip is out, gathers whatever arrives; those go
together as soon as it returns. Under load the batches grow by themselves; with
``linger_s``, a batch that follows one with company waits that long for more (fewer,
larger transactions for a little latency, paid only under load: the first statement
after a busy spell may wait once).

``run`` receives the items in arrival order and returns one result per item (a result
may be an exception: it is raised to that item's caller only). If a whole batch raises
one of ``split_on``, each item is tried again alone, so one bad item fails only itself.
``observe`` is called with each batch's size (a metric).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs ``run`` on batches of submitted items, one batch in flight at a time."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_size: int = 64,
        split_on: tuple[type[BaseException], ...] = (),
        observe: Callable[[int], object] | None = None,
        linger_s: float = 0.0,
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._split_on = split_on
        self._observe = observe
        self._linger_s = linger_s
        self._loaded = False  # did the last batch have company?
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0  # how many batches ran (items / batches = the mean batch size)
        self.items = 0

    async def submit(self, item: T) -> R:
        """Run ``item`` in the next batch and return its result (or raise its error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            if self._loaded and self._linger_s and len(self._pending) < self._max_size:
                await asyncio.sleep(self._linger_s)
            self._loaded = len(self._pending) > 1
            batch = self._pending[: self._max_size]
            del self._pending[: self._max_size]
            self.batches += 1
            self.items += len(batch)
            if self._observe is not None:
                self._observe(len(batch))
            try:
                results = await self._results([item for item, _ in batch])
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):  # cancelled: stop draining
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _results(self, items: list[T]) -> Sequence[R | BaseException]:
        try:
            results = await self._run(items)
        except self._split_on:
            if len(items) == 1:
                raise
            # One item spoiled the batch (or it lost a deadlock): each on its own.
            results = []
            for item in items:
                try:
                    results.extend(await self._run([item]))
                except self._split_on as exc:
                    results.append(exc)
        if len(results) != len(items):
            raise RuntimeError(f"batch of {len(items)} returned {len(results)} results")
        return results
