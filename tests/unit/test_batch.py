"""The group-commit batcher: who shares a batch, and whose error reaches whom."""

from __future__ import annotations

import asyncio

import pytest

from shared.batch import Batcher


class Bad(Exception):
    """The error a batch raises when it holds a bad item."""


class Recorder:
    """A batch function that records each batch and waits for a gate while one is out."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        await self.gate.wait()
        if -1 in items and len(items) > 1:
            raise Bad("a bad item spoiled the batch")
        if items == [-1]:
            raise Bad("bad item")
        return [ValueError(f"odd {i}") if i == 13 else i * 10 for i in items]


async def test_an_item_alone_goes_at_once() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run)
    assert await batcher.submit(4) == 40
    assert rec.batches == [[4]]


async def test_items_that_arrive_while_a_batch_is_out_share_the_next_one() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run)
    rec.gate.clear()
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)  # the first batch is out, waiting on the gate
    rest = [asyncio.create_task(batcher.submit(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    rec.gate.set()
    assert await first == 10
    assert [await t for t in rest] == [20, 30, 40, 50, 60]
    assert rec.batches == [[1], [2, 3, 4, 5, 6]]
    assert (batcher.batches, batcher.items) == (2, 6)


async def test_batches_never_exceed_max_size() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run, max_size=3)
    rec.gate.clear()
    tasks = [asyncio.create_task(batcher.submit(n)) for n in range(8)]
    await asyncio.sleep(0)
    rec.gate.set()
    assert [await t for t in tasks] == [n * 10 for n in range(8)]
    assert [len(b) for b in rec.batches] == [3, 3, 2]


async def test_an_error_result_reaches_only_its_own_caller() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run)
    rec.gate.clear()
    tasks = [asyncio.create_task(batcher.submit(n)) for n in (12, 13, 14)]
    await asyncio.sleep(0)
    rec.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == 120 and results[2] == 140
    assert isinstance(results[1], ValueError) and "odd 13" in str(results[1])


async def test_a_spoiled_batch_is_split_so_only_the_bad_item_fails() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run, split_on=(Bad,))
    rec.gate.clear()
    tasks = [asyncio.create_task(batcher.submit(n)) for n in (1, -1, 2)]
    await asyncio.sleep(0)
    rec.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], Bad) and str(results[1]) == "bad item"
    assert rec.batches == [[1, -1, 2], [1], [-1], [2]]


async def test_without_split_on_the_whole_batch_fails_and_the_next_one_still_runs() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run)
    rec.gate.clear()
    tasks = [asyncio.create_task(batcher.submit(n)) for n in (1, -1)]
    await asyncio.sleep(0)
    rec.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, Bad) for r in results)
    assert await batcher.submit(3) == 30


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run)
    rec.gate.clear()
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    second, third = (asyncio.create_task(batcher.submit(n)) for n in (2, 3))
    await asyncio.sleep(0)
    second.cancel()
    rec.gate.set()
    assert await first == 10
    assert await third == 30
    with pytest.raises(asyncio.CancelledError):
        await second


async def test_a_wrong_number_of_results_is_an_error_not_a_silent_mismatch() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = Batcher(short)
    with pytest.raises(RuntimeError, match="batch of 1 returned 0 results"):
        await batcher.submit(1)


async def test_alone_a_statement_never_lingers() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run, linger_s=30.0)
    for n in range(3):  # one after the other: every batch alone, none waits
        assert await asyncio.wait_for(batcher.submit(n), timeout=5) == n * 10
    assert rec.batches == [[0], [1], [2]]


async def test_under_load_the_next_batch_lingers_for_company() -> None:
    rec = Recorder()
    batcher = Batcher(rec.run, linger_s=0.2)
    rec.gate.clear()
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    loaded = [asyncio.create_task(batcher.submit(n)) for n in (2, 3)]
    await asyncio.sleep(0)
    rec.gate.set()
    await asyncio.gather(first, *loaded)  # [2, 3] had company: the next batch lingers
    late = [asyncio.create_task(batcher.submit(4))]
    await asyncio.sleep(0.05)  # inside the linger: joins 4
    late.append(asyncio.create_task(batcher.submit(5)))
    assert [await t for t in late] == [40, 50]
    assert rec.batches == [[1], [2, 3], [4, 5]]
