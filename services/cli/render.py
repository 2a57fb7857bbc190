"""Text for people: the stage timeline, log lines, job summaries and tables (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ASCII",
    "STAGES",
    "TERMINAL_STATUSES",
    "UNICODE",
    "Marks",
    "exit_code_for",
    "format_duration",
    "format_log",
    "format_size",
    "job_summary",
    "jobs_table",
    "outcome",
    "stage_states",
    "table",
    "timeline",
]

# (label, the job's `stage` value, the status while that stage works)
STAGES: tuple[tuple[str, str, str], ...] = (
    ("analyze", "analyzer", "analyzing"),
    ("generate", "generator", "generating"),
    ("provision", "provisioner", "provisioning"),
    ("verify", "verifier", "verifying"),
)
TERMINAL_STATUSES = frozenset({"completed", "planned", "failed", "rejected", "destroyed"})

EXIT_FAILED = 1
EXIT_REJECTED = 2


def exit_code_for(status: str) -> int:
    """The process exit code for a job that ended with `status`."""
    return {"failed": EXIT_FAILED, "rejected": EXIT_REJECTED}.get(status, 0)


@dataclass(frozen=True)
class Marks:
    """The symbols of the timeline; ASCII ones for terminals that cannot show the others."""

    done: str
    active: str
    failed: str
    pending: str
    skipped: str
    arrow: str
    spinner: str

    @classmethod
    def for_encoding(cls, encoding: str | None) -> Marks:
        """Unicode marks when `encoding` can encode them, else ASCII."""
        try:
            "".join(vars(UNICODE).values()).encode(encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            return ASCII
        return UNICODE


UNICODE = Marks(
    done="✓",
    active="▶",
    failed="✗",
    pending="·",
    skipped="\u2013",
    arrow="\u203a",
    spinner="⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏",
)
ASCII = Marks(
    done="+", active="*", failed="x", pending=".", skipped="-", arrow=">", spinner="|/-\\"
)


def stage_states(status: str, stage: str | None) -> list[tuple[str, str, str]]:
    """Each pipeline stage as (label, state, working status); state is done/active/pending/…."""
    working = [s[2] for s in STAGES]
    if status in ("destroying", "destroyed"):
        return [("teardown", "active" if status == "destroying" else "done", "destroying")]
    if status in working:
        current = working.index(status)
        states = [
            "done" if i < current else "active" if i == current else "pending"
            for i in range(len(STAGES))
        ]
    elif status == "completed":
        states = ["done"] * len(STAGES)
    elif status == "planned":
        states = ["done", "done", "skipped", "skipped"]
    elif status in ("failed", "rejected"):
        names = [s[1] for s in STAGES]
        at = names.index(stage) if stage in names else (0 if status == "rejected" else -1)
        states = [
            "done" if i < at else "failed" if i == at else "skipped" for i in range(len(STAGES))
        ]
    else:  # queued, or a status this CLI does not know yet
        states = ["pending"] * len(STAGES)
    return [(label, state, st) for (label, _, st), state in zip(STAGES, states, strict=True)]


def timeline(
    status: str,
    stage: str | None,
    marks: Marks,
    durations: Mapping[str, float] | None = None,
) -> str:
    """`analyze ✓ 1.2s > generate ▶ 0.4s > provision · > verify ·`; durations by status."""
    durations = durations or {}
    parts = []
    for label, state, working in stage_states(status, stage):
        part = f"{label} {getattr(marks, state)}"
        spent = durations.get(working)
        if spent is not None and state in ("done", "active", "failed"):
            part += f" {format_duration(spent)}"
        parts.append(part)
    return f" {marks.arrow} ".join(parts)


def format_duration(seconds: float) -> str:
    """3.4s, 2m05s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def format_size(size: int) -> str:
    """812 B, 2.1 KiB, 3.4 MiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _local_time(value: Any, fmt: str) -> str:
    parsed = _parse_ts(value)
    return parsed.astimezone().strftime(fmt) if parsed else str(value or "")


def _age(value: Any, now: datetime | None = None) -> str:
    parsed = _parse_ts(value)
    if parsed is None:
        return ""
    seconds = max(0.0, ((now or datetime.now(UTC)) - parsed).total_seconds())
    return (
        f"{format_duration(seconds)} ago"
        if seconds < 3600 * 48
        else f"{int(seconds // 86400)}d ago"
    )


def format_log(line: Mapping[str, Any]) -> str:
    """`12:00:03 INFO  analyzer: cloned commit …`; later lines of a message are indented."""
    service = str(line.get("service") or "")
    message = str(line.get("message") or "")
    if service and not message.startswith(f"{service}:"):
        message = f"{service}: {message}"
    level = str(line.get("level") or "info").upper()
    head = f"  {_local_time(line.get('ts'), '%H:%M:%S')} {level:<7} "
    first, *rest = message.splitlines() or [""]
    return "\n".join([head + first, *(" " * len(head) + r for r in rest)])


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def outcome(job: Mapping[str, Any], marks: Marks, elapsed: float | None = None) -> str:
    """The last word on a job that ended: its URL, its plan, or why it did not deploy."""
    status = str(job.get("status"))
    job_id = job.get("id")
    took = f" in {format_duration(elapsed)}" if elapsed is not None else ""
    result = job.get("result") or {}
    if status == "completed":
        url = result.get("url") or "(the job reported no URL)"
        return f"{marks.done} deployed{took}: {url}"
    if status == "planned":
        reason = result.get("reason")
        lines = [
            f"{marks.done} planned{took}: nothing was applied" + (f"; {reason}" if reason else "")
        ]
        lines.append(f"  files:  autodeploy artifacts {job_id}")
        lines.append(f"  bundle: autodeploy artifacts {job_id} --download bundle.tar.gz")
        return "\n".join(lines)
    if status == "destroyed":
        return f"{marks.done} destroyed{took}: the deployment of job {job_id} is gone"
    error = str(job.get("error") or f"(no reason recorded; see `autodeploy logs {job_id}`)")
    first, *rest = error.splitlines() or [""]
    if status == "rejected":
        head = f"{marks.failed} rejected{took}: {first}"
    elif status == "failed":
        where = f" at {job['stage']}" if job.get("stage") else ""
        head = f"{marks.failed} failed{where}{took}: {first}"
    else:
        head = f"{marks.failed} ended as {status}{took}: {first}"
    return "\n".join([head, *(_indent(r, "    ") for r in rest if r.strip())])


def job_summary(job: Mapping[str, Any], marks: Marks) -> str:
    """A job as `key  value` lines for `autodeploy status`."""
    request = job.get("request") or {}
    result = job.get("result") or {}
    analysis = job.get("analysis") or {}
    status = str(job.get("status"))
    rows: list[tuple[str, str]] = [
        ("job", str(job.get("id"))),
        ("status", status + (f" ({job['stage']})" if job.get("stage") else "")),
        ("progress", timeline(status, job.get("stage"), marks)),
        ("repo", str(request.get("repo_url") or "")),
    ]
    if request.get("mode") == "plan":
        rows.append(("mode", "plan"))
    target = result.get("target") or analysis.get("target") or request.get("target")
    if target:
        rows.append(("target", str(target)))
    if analysis:
        kind = analysis.get("framework") or analysis.get("language")
        port = analysis.get("port")
        if isinstance(port, Mapping):
            port = port.get("value")
        facts = ", ".join(str(f) for f in (kind, f"port {port}" if port else None) if f)
        if facts:
            rows.append(("app", facts))
    if result.get("url"):
        rows.append(("url", str(result["url"])))
    if result.get("reason"):
        rows.append(("note", str(result["reason"])))
    if job.get("error"):
        rows.append(("error", str(job["error"])))
    rows.append(
        (
            "created",
            f"{_local_time(job.get('created_at'), '%Y-%m-%d %H:%M:%S')} "
            f"({_age(job.get('created_at'))})",
        )
    )
    if job.get("finished_at"):
        rows.append(("finished", _local_time(job["finished_at"], "%Y-%m-%d %H:%M:%S")))
    logs = job.get("logs") or []
    rows.append(("logs", f"{len(logs)} lines: autodeploy logs {job.get('id')}"))
    width = max(len(k) for k, _ in rows)
    lines = []
    for key, value in rows:
        first, *rest = value.splitlines() or [""]
        lines.append(f"{key:<{width}}  {first}")
        lines.extend(" " * (width + 2) + r for r in rest)
    return "\n".join(lines)


def jobs_table(items: Sequence[Mapping[str, Any]], now: datetime | None = None) -> str:
    """Jobs as aligned columns: id, status, stage, age, URL (or repository)."""
    header = ("ID", "STATUS", "STAGE", "CREATED", "URL / REPOSITORY")
    rows = [
        (
            str(item.get("id")),
            str(item.get("status")),
            str(item.get("stage") or "-"),
            _age(item.get("created_at"), now),
            str(item.get("url") or item.get("repo_url") or ""),
        )
        for item in items
    ]
    return table([header, *rows])


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    )
