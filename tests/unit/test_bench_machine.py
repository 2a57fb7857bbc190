"""The machine-state line `make bench` ends each section with (`bench/baselines/common.py`)."""

from __future__ import annotations

from bench.baselines.common import cpu_probe_ms, cpu_share, cpu_times


def test_shares_count_busy_and_stolen_time_apart_from_idle() -> None:
    #        user nice system idle iowait irq softirq steal
    before = [100, 0, 50, 1000, 10, 0, 0, 20]
    after = [160, 0, 70, 1080, 20, 0, 0, 40]  # spent: 80 busy, 90 idle, 20 stolen
    assert cpu_share(before, after) == "CPUs busy 42%, stolen 11%"


def test_readings_come_from_this_machine_and_only_grow() -> None:
    first = cpu_times()
    assert len(first) == 8
    assert cpu_probe_ms() > 0
    assert all(b >= a for a, b in zip(first, cpu_times(), strict=True))
