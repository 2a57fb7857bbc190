"""The deploy-latency benchmark runs end to end (one round), so it cannot rot."""

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
