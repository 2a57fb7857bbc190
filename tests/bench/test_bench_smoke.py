"""Every `--smoke` benchmark runs end to end against the real services, so none can rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import hops

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e]


def _smoke(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, f"bench/{script}", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def test_gateway_bench_smoke() -> None:
    out = _smoke("gateway_bench.py")
    assert "| gateway POST /request (2 workers, job + outbox) |" in out
    assert "| bare FastAPI, same answer, no I/O (2 workers) |" in out
    assert "| raw asyncpg job + outbox txn (2 processes) |" in out
    assert "| bare ASGI app, no framework, no I/O (2 workers) |" in out
    assert "- gateway / bare FastAPI:" in out and "- gateway / raw asyncpg:" in out
    row = next(line for line in out.splitlines() if line.startswith("| gateway POST"))
    assert float(row.split("|")[3]) > 0, "the gateway accepted no request"
    assert row.rstrip(" |").endswith("| 0"), "some requests failed"


def test_pipeline_bench_smoke() -> None:
    out = _smoke("pipeline_bench.py")
    for line in (
        "| autodeploy: gateway + 4 stand-in stages |",
        "| raw aio-pika chain, 5 hops, no database |",
        "| Celery 5-task chain, same PostgreSQL writes |",
        "- autodeploy / raw aio-pika:",
        "- autodeploy / Celery:",
        "| autodeploy, client: POST → sees `completed` |",
        "| raw aio-pika chain, one message |",
        "| gateway commit → analyzer started |",
        "| verifier started → committed |",
        "| where the CPU went (leaf frame) | share |",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    if hops.available() is not None:  # no tcpdump, or not root: the bench says so
        assert "Where one hop's time goes on the wire: left out" in out
        return
    assert "| p50 ms, wire to wire | analyzer | generator | provisioner | verifier |" in out
    whole = next(line for line in out.splitlines() if line.startswith("| whole hop |"))
    cells = [c.strip() for c in whole.strip("|").split("|")]
    assert all(float(c) > 0 for c in cells[1:4]), f"hops not read off the capture: {whole}"
    assert float(cells[5]) > 0, f"raw chain hops not read off the capture: {whole}"


def test_memory_bench_smoke() -> None:
    out = _smoke("memory_bench.py")
    for service in ("gateway", "analyzer", "generator", "provisioner", "verifier"):
        assert f"| {service} |" in out
    assert "| bare FastAPI uvicorn worker, after requests |" in out
    assert "- largest service process:" in out
