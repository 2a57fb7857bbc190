"""`make bench`: run every benchmark side by side with its baseline; write one Markdown report.

Each section names its command, the machine, and min/median/max over its runs, and ends with
the machine's state while it ran: how busy the CPUs were, how much time the hypervisor
stole from them, and how fast a fixed Python loop ran. The report goes to stdout and to
bench/results/latest.md.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baselines.common import cpu_probe_ms, cpu_share, cpu_times, machine  # noqa: E402

BENCHES = [
    ("Gateway POST /request accepted per second (issue 9 row 1)", ["bench/gateway_bench.py"]),
    ("Pipeline throughput and per-job overhead (issue 9 rows 2-3)", ["bench/pipeline_bench.py"]),
    ("Service memory, idle and after throughput (issue 9 row 6)", ["bench/memory_bench.py"]),
    ("Analyzer on generated repositories (issue 3/9 row 4)", ["bench/analyzer_bench.py"]),
    ("Deploy latency, Flask fixture (issue 5/9 row 5)", ["bench/deploy_bench.py", "--runs", "3"]),
    (
        "Warm redeploys by signed webhook, Flask fixture (issue 25 rows 7-8)",
        ["bench/warm_bench.py", "--runs", "3"],
    ),
]


def main() -> int:
    sections = [
        "# autodeploy benchmarks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
    ]
    failed = False
    for title, command in BENCHES:
        argv = [sys.executable, *command]
        print(f"== {title}: {' '.join(command)}", flush=True)
        probe, before = cpu_probe_ms(), cpu_times()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        # The machine's state during the section: absolute bounds (rows 3 and 5) move
        # with it, ratios much less.
        state = (
            f"Machine meanwhile: {cpu_share(before, cpu_times())}; a fixed Python loop "
            f"took {probe:.1f} ms at the start (`cpu_probe_ms`: lower is a faster CPU)."
        )
        output = proc.stdout.strip() or proc.stderr.strip()
        print(output, flush=True)
        print(state, flush=True)
        failed |= proc.returncode != 0
        sections += ["", f"## {title}", "", f"Command: `python {' '.join(command)}`", ""]
        sections += [output, "", state]
        if proc.returncode != 0:
            sections += ["", f"**exit code {proc.returncode}**: {proc.stderr.strip()[-2000:]}"]
    report = "\n".join(sections) + "\n"
    out = ROOT / "bench/results/latest.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
