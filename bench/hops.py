"""Where one hop of a single job goes, read off the wire (row 3's breakdown).

The database's timestamps (`pipeline_bench`'s "where one job's time goes") say when a
stage's statements ran, not what happened between them. This reads the loopback instead:
tcpdump records every TCP segment that carries data to or from PostgreSQL (5432) and
RabbitMQ (5672), and each connection's local port is traced to its process (``ss``). A
stage's hop then reads, wire to wire:

    delivered → begin sent → begin answered → commit sent → commit answered
    → event published → next stage delivered

and a raw aio-pika stage's: delivered → published → next stage delivered. Between
"sent" and "answered" is PostgreSQL's part (with the commit's WAL flush), between
"published" and "delivered" RabbitMQ's (a quorum queue's append), and the rest is the
stage process's own work.

Capturing needs tcpdump and the right to capture on ``lo`` (root); `available` says why
not, and the pipeline bench then leaves the table out.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.baselines.common import process_tree, table

__all__ = ["Capture", "Segment", "available", "capture", "hop_table", "parse", "port_owners"]

PG, RABBIT = "PostgreSQL", "RabbitMQ"
PORTS = {5432: PG, 5672: RABBIT}
# A delivery carries a message body: more than a confirm (21 bytes) or a heartbeat (8).
MIN_DELIVERY_BYTES = 100
# Segments further apart than this from a delivery belong to another job.
WINDOW_S = 0.1

STEPS = (
    "delivered → begin sent",
    "begin: sent → answered",
    "begin answered → commit sent",
    "commit: sent → answered",
    "commit answered → event published",
    "published → next stage delivered",
)
_SEQUENCE = (  # (sender, receiver) of each step's closing segment; "self" is the stage
    ("self", PG),
    (PG, "self"),
    ("self", PG),
    (PG, "self"),
    ("self", RABBIT),
)

_LINE = re.compile(r"^(\d+\.\d+) IP [\d.]+\.(\d+) > [\d.]+\.(\d+): tcp (\d+)")


@dataclass(frozen=True)
class Segment:
    """One TCP segment with data: when, from whom, to whom, how many bytes."""

    at: float
    sender: str
    receiver: str
    size: int


def available() -> str | None:
    """None if a capture can run here, else why not."""
    if shutil.which("tcpdump") is None:
        return "tcpdump is not installed"
    if shutil.which("ss") is None:
        return "ss (iproute2) is not installed"
    if os.geteuid() != 0:
        return "capturing on lo needs root"
    return None


def port_owners(ss_output: str, groups: Mapping[str, Sequence[int]]) -> dict[int, str]:
    """Local port → process group, from ``ss -tnpH`` lines (connections of other processes
    are left out)."""
    by_pid = {pid: name for name, pids in groups.items() for pid in pids}
    owners: dict[int, str] = {}
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        port = int(fields[3].rsplit(":", 1)[1])
        for pid in re.findall(r"pid=(\d+)", " ".join(fields[5:])):
            if int(pid) in by_pid:
                owners[port] = by_pid[int(pid)]
    return owners


def parse(lines: Sequence[str], owners: Mapping[int, str]) -> list[Segment]:
    """tcpdump's ``-tt -n -q`` lines as segments between named processes.

    A port that is neither a server's nor in ``owners`` is named ``port N``.
    """
    segments = []
    for line in lines:
        match = _LINE.match(line)
        if match is None or int(match[4]) == 0:
            continue
        ends = []
        for port in (int(match[2]), int(match[3])):
            ends.append(PORTS.get(port) or owners.get(port) or f"port {port}")
        segments.append(Segment(float(match[1]), ends[0], ends[1], int(match[4])))
    return segments


def _delivered(segment: Segment, to: str) -> bool:
    return segment.sender == RABBIT and segment.receiver == to and segment.size > MIN_DELIVERY_BYTES


def _find(
    segments: Sequence[Segment], start: int, since: float, wanted: Callable[[Segment], bool]
) -> int | None:
    """The index of the first segment from ``start`` on that is ``wanted``, within
    `WINDOW_S` of ``since``."""
    for j in range(start, len(segments)):
        if segments[j].at - since >= WINDOW_S:
            return None
        if wanted(segments[j]):
            return j
    return None


def _sent(sender: str, receiver: str) -> Callable[[Segment], bool]:
    return lambda seg: (seg.sender, seg.receiver) == (sender, receiver)


def _delivery_to(stage: str) -> Callable[[Segment], bool]:
    return lambda seg: _delivered(seg, stage)


def _following(stages: Sequence[str]) -> dict[str, str | None]:
    return dict(zip(stages, [*stages[1:], None], strict=True))


def stage_hops(
    segments: Sequence[Segment], stages: Sequence[str]
) -> dict[str, dict[str, list[float]]]:
    """Milliseconds of each step (`STEPS`, then "whole hop") after each delivery to a stage.

    A delivery's steps end at the first segments after it that match `_SEQUENCE`, in
    order, within `WINDOW_S`; a delivery whose sequence is not complete is left out.
    """
    out: dict[str, dict[str, list[float]]] = {s: collections.defaultdict(list) for s in stages}
    following = _following(stages)
    for i, seg in enumerate(segments):
        stage = seg.receiver
        if stage not in out or not _delivered(seg, stage):
            continue
        times, j = [seg.at], i
        for pair in _SEQUENCE:
            sender, receiver = (stage if end == "self" else end for end in pair)
            found = _find(segments, j + 1, seg.at, _sent(sender, receiver))
            if found is None:
                break
            times.append(segments[found].at)
            j = found
        if len(times) != len(_SEQUENCE) + 1:
            continue
        nxt = following[stage]
        at = _find(segments, j + 1, seg.at, _delivery_to(nxt)) if nxt is not None else None
        if at is not None:
            times.append(segments[at].at)
        for step, a, b in zip(STEPS, times, times[1:], strict=False):
            out[stage][step].append((b - a) * 1000)
        if at is not None:
            out[stage]["whole hop"].append((segments[at].at - seg.at) * 1000)
    return out


def raw_hops(segments: Sequence[Segment], stages: Sequence[str]) -> dict[str, list[float]]:
    """The raw chain's stages, pooled: delivered → published → next stage delivered (ms)."""
    out: dict[str, list[float]] = collections.defaultdict(list)
    following = _following(stages)
    for i, seg in enumerate(segments):
        stage = seg.receiver
        if stage not in following or not _delivered(seg, stage):
            continue
        published = _find(segments, i + 1, seg.at, _sent(stage, RABBIT))
        if published is None:
            continue
        sent = segments[published].at
        out["delivered → event published"].append((sent - seg.at) * 1000)
        nxt = following[stage]
        at = _find(segments, published + 1, seg.at, _delivery_to(nxt)) if nxt else None
        if at is not None:
            out["published → next stage delivered"].append((segments[at].at - sent) * 1000)
            out["whole hop"].append((segments[at].at - seg.at) * 1000)
    return out


def _p50(values: Sequence[float] | None) -> str:
    return f"{statistics.median(values):.2f}" if values else ""


# The raw stage's step shown beside each of a stage's steps (it has no database).
_RAW_BESIDE = {
    "commit answered → event published": "delivered → event published",
    "published → next stage delivered": "published → next stage delivered",
    "whole hop": "whole hop",
}


def hop_table(
    stages: Mapping[str, Mapping[str, Sequence[float]]], raw: Mapping[str, Sequence[float]]
) -> str:
    """One Markdown table: the p50 of each step by stage, a raw chain's stage beside them."""
    rows = []
    for step in (*STEPS, "whole hop"):
        raw_step = _RAW_BESIDE.get(step)
        label = f"{step} (raw: {raw_step})" if raw_step and raw_step != step else step
        rows.append(
            [
                label,
                *(_p50(hops.get(step)) for hops in stages.values()),
                _p50(raw.get(raw_step)) if raw_step else "",
            ]
        )
    return table(["p50 ms, wire to wire", *stages, "raw aio-pika stage"], rows)


def _owners_now(groups: Mapping[str, int]) -> dict[int, str]:
    members = {name: process_tree(pid) for name, pid in groups.items()}
    listing = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, check=True)
    return port_owners(listing.stdout, members)


@dataclass
class Capture:
    """What a `capture` recorded (filled in when its block ends)."""

    segments: list[Segment] = field(default_factory=list)


@contextmanager
def capture(groups: Mapping[str, int], workdir: Path) -> Iterator[Capture]:
    """Record the loopback's PostgreSQL and RabbitMQ segments while the block runs.

    ``groups`` names the processes to tell apart (a process's children count as it).
    Their connections' ports are read as the block starts and as it ends.
    """
    ports = _owners_now(groups)
    out = workdir / "hops.tcpdump"
    with out.open("w") as sink:
        dump = subprocess.Popen(
            [
                "tcpdump",
                "-i",
                "lo",
                "-tt",
                "-n",
                "-q",
                "-l",
                # data-carrying segments only (PSH), to or from the two servers
                "tcp and (port 5432 or port 5672) and tcp[tcpflags] & tcp-push != 0",
            ],
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # tcpdump is listening before the first job
        result = Capture()
        try:
            yield result
        finally:
            time.sleep(0.2)
            dump.terminate()
            dump.wait(timeout=10)
            # A pool may have opened a connection meanwhile: it is still open now.
            ports.update(_owners_now(groups))
    result.segments = parse(out.read_text().splitlines(), ports)
