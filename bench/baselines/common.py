"""Helpers shared by the benchmarks: machine line, statistics, Markdown tables, RSS."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "cpu_probe_ms",
    "cpu_seconds",
    "cpu_share",
    "cpu_times",
    "machine",
    "percentile",
    "pids_named",
    "process_tree",
    "rss_mb",
    "serve_app",
    "spread",
    "table",
]


def machine() -> str:
    """CPUs (nproc), memory, kernel and Python: the line every table is read against."""
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc), {mem_kb / 2**20:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def cpu_times() -> list[int]:
    """The machine's CPU time so far, by kind, in ticks (the first line of /proc/stat).

    user, nice, system, idle, iowait, irq, softirq, steal (guest time is inside user).
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    return [int(x) for x in fields]


def cpu_share(before: Sequence[int], after: Sequence[int]) -> str:
    """How the CPUs spent the time between two `cpu_times` readings.

    Steal is time the hypervisor gave this virtual machine's CPUs to someone else: it
    slows every process here alike, baselines included.
    """
    spent = [a - b for a, b in zip(after, before, strict=True)]
    total = sum(spent) or 1
    idle, steal = spent[3] + spent[4], spent[7]
    return f"CPUs busy {(total - idle - steal) / total:.0%}, stolen {steal / total:.0%}"


def cpu_probe_ms() -> float:
    """How long a fixed pure-Python loop takes here now (best of 3): the CPU's speed."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(300_000))
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> tuple[str, str, str]:
    """min / median / max of the runs, formatted."""
    return (
        fmt.format(min(values)),
        fmt.format(statistics.median(values)),
        fmt.format(max(values)),
    )


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` is one of 'l'/'r' per column (default: first l, rest r)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (VmRSS from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (uvicorn's supervisor and its workers)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split()
        for child in children:
            out += process_tree(int(child))
    return out


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (all threads; gone ones left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        used[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (14, 15)
    return used


def pids_named(*names: str) -> list[int]:
    """Processes whose command name (/proc/<pid>/comm) is one of ``names``."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in names:
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


def serve_app(app: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    """A baseline ASGI app on uvicorn (``module:attribute``), on 127.0.0.1:``port``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
