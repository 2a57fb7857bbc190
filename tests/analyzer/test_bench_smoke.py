"""The analyzer benchmark runs end to end on tiny repositories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "analyzer_bench.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    rows = [
        line for line in proc.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()
    ]
    assert len(rows) == 3
    assert "time(" in proc.stdout and "targets:" in proc.stdout


def test_generated_repo_is_a_flask_service(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import analyzer_bench
    finally:
        sys.path.remove(str(ROOT / "bench"))
    count = analyzer_bench.generate(tmp_path, 500)
    assert count == 500
    from services.analyzer.detect import analyze_repository

    a = analyze_repository(tmp_path, description="deploy it")
    assert (a.framework, a.file_count, a.health_path) == ("flask", 500, "/healthz")
    assert a.tree_truncated is False or len(a.tree) == 2000
