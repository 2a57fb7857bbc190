"""The deploy-latency benchmarks run end to end (one round), so they cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def test_deploy_bench_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/deploy_bench.py", "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ratio autodeploy/by-hand (medians):" in proc.stdout
    assert "| autodeploy POST → healthy |" in proc.stdout


def test_warm_bench_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/warm_bench.py", "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| unchanged commit: webhook → healthy |" in proc.stdout
    assert "ratio source change autodeploy/by-hand (medians):" in proc.stdout
