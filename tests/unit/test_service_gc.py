"""`shared.service.tune_garbage_collector`: startup's objects frozen, collections rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.service import GC_THRESHOLDS, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_startup_objects_are_frozen_and_thresholds_raised(restored_gc: None) -> None:
    tune_garbage_collector()
    assert gc.isenabled()  # collections still run on their own, only less often
    assert gc.get_freeze_count() > 1000  # this test process's modules, at least
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # rarer than CPython's default young collection


def test_garbage_cycles_made_after_startup_are_still_collected(restored_gc: None) -> None:
    tune_garbage_collector()

    class Node:
        pass

    def pair() -> None:
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]

    for _ in range(1000):
        pair()
    assert gc.collect() >= 2000
