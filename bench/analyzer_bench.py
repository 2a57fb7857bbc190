"""Benchmark the deterministic analyzer against `find . -type f` on generated repositories.

Generates repositories of 1k, 10k and 100k files (a Flask app plus a realistic mix of
source, asset, doc and data files in nested folders), times `analyze_repository` (min /
median / max over several runs) and `find . -type f` on the same tree, prints a Markdown
table and checks the targets: 10k files in <= 300 ms, time(100k) / time(10k) <= 12.

    .venv/bin/python bench/analyzer_bench.py            # full run
    .venv/bin/python bench/analyzer_bench.py --smoke    # tiny sizes, for the test suite
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.analyzer.detect import analyze_repository

FULL_SIZES = (1_000, 10_000, 100_000)
SMOKE_SIZES = (60, 200, 600)
TARGET_10K_MS = 300.0
TARGET_SCALING = 12.0

APP_FILES = {
    "requirements.txt": "flask==3.0.3\ngunicorn==22.0.0\nredis==5.0.4\n",
    "app.py": (
        "import os\nfrom flask import Flask, jsonify\n\napp = Flask(__name__)\n"
        "app.config['SECRET_KEY'] = os.environ['SECRET_KEY']\n\n"
        "@app.get('/healthz')\ndef healthz():\n    return jsonify(ok=True)\n\n"
        "if __name__ == '__main__':\n"
        "    app.run(host='0.0.0.0', port=int(os.getenv('PORT', '5000')))\n"
    ),
    "wsgi.py": "from app import app\n",
    "README.md": "# Big app\n",
    "templates/index.html": "<h1>hi</h1>\n",
}
# (share of files, folder pattern, file pattern, content)
MIX: list[tuple[float, str, str, bytes]] = [
    (0.40, "src/area{a}/sub{b}", "module_{i}.py", b"def f():\n    return 1\n"),
    (0.20, "static/img/set{a}/g{b}", "img_{i}.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    (0.15, "static/js/chunk{a}", "chunk_{i}.js", b"export const x = 1;\n"),
    (0.10, "docs/section{a}/part{b}", "page_{i}.md", b"# Page\n"),
    (0.10, "data/{a}/{b}", "rec_{i}.json", b'{"k": 1}\n'),
    (0.05, "tests/unit{a}", "test_{i}.py", b"def test():\n    assert True\n"),
]
PER_DIR = 80


def generate(root: Path, n_files: int) -> int:
    """Write a repository of about n_files files under root; return the exact count."""
    count = 0
    for rel, text in APP_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        count += 1
    remaining = max(0, n_files - count)
    for share, folder, name, content in MIX:
        k = int(remaining * share)
        for i in range(k):
            d = i // PER_DIR
            path = root / folder.format(a=d // 10, b=d % 10) / name.format(i=i)
            if i % PER_DIR == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            count += 1
    filler = n_files - count
    for i in range(max(0, filler)):
        (root / f"extra_{i}.txt").write_bytes(b"x\n")
        count += 1
    return count


def _time(fn: object, runs: int) -> list[float]:
    out: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def bench(sizes: tuple[int, ...], runs: int, workdir: Path) -> list[dict[str, float]]:
    """Generate each size, time the analyzer and find, return one row per size."""
    rows: list[dict[str, float]] = []
    for n in sizes:
        root = workdir / f"repo_{n}"
        root.mkdir()
        real = generate(root, n)

        def find(root: Path = root) -> None:
            subprocess.run(
                ["find", ".", "-type", "f"], cwd=root, stdout=subprocess.DEVNULL, check=True
            )

        def analyse(root: Path = root, real: int = real, n: int = n) -> None:
            a = analyze_repository(root, description="deploy the flask app")
            if a.verdict != "http-service" or a.framework != "flask" or a.file_count != real:
                raise SystemExit(
                    f"wrong analysis on {n} files: {a.verdict} {a.framework} {a.file_count}"
                )

        find()  # warm the page cache so both sides read the same hot tree
        analyse()
        t_an = _time(analyse, runs)
        t_find = _time(find, runs)
        rows.append(
            {
                "files": real,
                "min": min(t_an),
                "median": statistics.median(t_an),
                "max": max(t_an),
                "find_median": statistics.median(t_find),
            }
        )
        shutil.rmtree(root)
    return rows


def report(rows: list[dict[str, float]]) -> tuple[str, list[str]]:
    """The Markdown table and the list of missed targets."""
    lines = [
        "| files | analyze min (ms) | median (ms) | max (ms) | find median (ms) | analyze/find |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {int(r['files'])} | {r['min']:.1f} | {r['median']:.1f} | {r['max']:.1f} | "
            f"{r['find_median']:.1f} | {r['median'] / r['find_median']:.2f} |"
        )
    missed: list[str] = []
    if len(rows) >= 3:
        mid, big = rows[1], rows[2]
        scaling = big["median"] / mid["median"]
        lines.append("")
        lines.append(
            f"- {int(mid['files'])} files: median {mid['median']:.1f} ms "
            f"(target <= {TARGET_10K_MS:.0f} ms)"
        )
        lines.append(
            f"- time({int(big['files'])}) / time({int(mid['files'])}) = {scaling:.2f} "
            f"(target <= {TARGET_SCALING:.0f})"
        )
        if mid["median"] > TARGET_10K_MS:
            missed.append(f"{int(mid['files'])} files took {mid['median']:.1f} ms")
        if scaling > TARGET_SCALING:
            missed.append(f"scaling {scaling:.2f} > {TARGET_SCALING}")
    return "\n".join(lines), missed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; non-zero exit when a target is missed (full mode only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; targets not enforced")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", help="override the sizes")
    args = parser.parse_args(argv)
    sizes = tuple(args.sizes) if args.sizes else SMOKE_SIZES if args.smoke else FULL_SIZES
    runs = max(3, args.runs if not args.smoke else 3)
    with tempfile.TemporaryDirectory(prefix="analyzer-bench-") as tmp:
        rows = bench(sizes, runs, Path(tmp))
    table, missed = report(rows)
    print(table)
    if missed and not args.smoke:
        print("MISSED: " + "; ".join(missed))
        return 1
    print("targets: " + ("not enforced (smoke)" if args.smoke else "met"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
