"""Optional LLM review of the deterministic analysis: two bounded, structured questions.

First "which files matter" (from the tree, the findings and the description), then
"what do they imply" (from those files' fenced contents). Every LLM claim must cite a
file and line that exist and say what it claims before it can change anything, and the
detectors' own file+line evidence always wins over it; disagreements are recorded in
``Analysis.conflicts`` with both sides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import posixpath
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from services.analyzer.detect._common import is_secret_name
from services.analyzer.detect._fs import MAX_READ_BYTES, RepoSnapshot, walk_repository
from shared.analysis import Analysis, BackingService, EnvVar, Evidence, PortFinding
from shared.llm import LLMClient, LLMUnavailable, fence_data, fence_file

__all__ = [
    "MAX_PICKED_FILES",
    "FileChoice",
    "Implications",
    "refine_analysis",
]

logger = logging.getLogger(__name__)

MAX_PICKED_FILES = 8
# Per-file and total caps on what goes into the prompt: enough for the files that decide
# how an app runs, bounded so that a huge file cannot blow the context or the bill.
_FILE_PROMPT_BYTES = 16 * 1024
_TOTAL_PROMPT_BYTES = 64 * 1024
_TREE_PROMPT_ENTRIES = 800
_MAX_ENV_CLAIMS = 30

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~/%-]{0,200}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_ALL_INTERFACES = frozenset({"0.0.0.0", "::", "[::]", "*"})
_SERVICE_ALIASES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "pg": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "mongodb": "mongodb",
    "mongo": "mongodb",
    "rabbitmq": "rabbitmq",
    "amqp": "rabbitmq",
    "memcached": "memcached",
    "elasticsearch": "elasticsearch",
}
_SOURCE_TEXT = {
    "description": "the description",
    "dockerfile": "the Dockerfile",
    "compose": "the compose file",
    "code": "code",
    "cli": "the start command",
    "procfile": "the Procfile",
    "framework-default": "the framework default",
}

Log = Callable[[str], Awaitable[None]]


class FileChoice(BaseModel):
    """Answer to "which files matter": repository-relative paths, most telling first."""

    files: list[str] = Field(
        default_factory=list,
        description=f"at most {MAX_PICKED_FILES} repository-relative file paths from the tree",
    )


class Cited(BaseModel):
    """Where a claim comes from: a file from the fenced contents and a 1-based line."""

    file: str | None = None
    line: int | None = None


class PortClaim(Cited):
    """The port the app listens on."""

    value: int = Field(ge=1, le=65535)


class TextClaim(Cited):
    """A short textual conclusion (bind address, start command, health path)."""

    value: str = Field(max_length=500)


class EnvClaim(Cited):
    """An environment variable the code reads."""

    name: str
    required: bool = False
    secret: bool = False


class ServiceClaim(Cited):
    """A backing service the app needs (postgres, mysql, redis, mongodb, rabbitmq…)."""

    kind: str


class Implications(BaseModel):
    """Answer to "what do these files imply": each conclusion with its file and line."""

    port: PortClaim | None = None
    bind_address: TextClaim | None = None
    start_command: TextClaim | None = None
    env_vars: list[EnvClaim] = Field(default_factory=list)
    services: list[ServiceClaim] = Field(default_factory=list)
    health_path: TextClaim | None = None
    verdict_hint: Literal["http-service", "not-a-service", "unsure"] = "unsure"
    verdict_reason: str = Field(default="", max_length=1000)


_PICK_SYSTEM = (
    "You help deploy a source repository as a containerised HTTP service. Deterministic "
    "detectors have already analysed it. Pick the files whose contents best show how the "
    "app starts, which port and address it listens on, which environment variables it "
    "reads, which backing services (databases, caches, brokers) it needs and its "
    f"health-check route. Pick at most {MAX_PICKED_FILES} files, only paths that appear in "
    'the tree, most telling first. Answer as {"files": ["path", ...]}.'
)
_IMPLY_SYSTEM = (
    "You help deploy a source repository as a containerised HTTP service. From the fenced "
    "file contents, state what they imply: the port the app listens on, the address it "
    "binds, the command that starts it, the environment variables it reads, the backing "
    "services it needs, its health-check path, and whether it is an HTTP service at all. "
    "Every conclusion must cite the file (its path exactly as in its FILE marker) and the "
    "1-based line number that shows it. Leave a field null (or a list empty) when the "
    "files do not show it: a guess without a citation is discarded."
)


def _ev_text(ev: Evidence) -> str:
    return f"{ev.file}:{ev.line}" if ev.line else (ev.text or ev.file)


def _findings(analysis: Analysis) -> str:
    port = analysis.port
    summary = {
        "verdict": analysis.verdict,
        "verdict_reasons": analysis.verdict_reasons[:3],
        "app_root": analysis.app_root,
        "language": analysis.language,
        "framework": analysis.framework,
        "port": (
            {"value": port.value, "source": port.source, "evidence": _ev_list(port.evidence)}
            if port
            else None
        ),
        "bind_address": analysis.bind_address,
        "start_command": analysis.start_command,
        "health_path": analysis.health_path,
        "env_vars": [v.name for v in analysis.env_vars][:40],
        "services": [s.kind for s in analysis.services],
        "existing_docker": analysis.docker.model_dump() if analysis.docker else None,
    }
    return json.dumps(summary, indent=1)


def _ev_list(evidence: list[Evidence]) -> list[str]:
    return [_ev_text(e) for e in evidence[:3]]


def _clean_rel(raw: object) -> str | None:
    """A safe repository-relative path, or None for anything absolute, escaping or odd."""
    if not isinstance(raw, str) or not raw or len(raw) > 1000:
        return None
    if "\\" in raw or any(ord(c) < 32 for c in raw):
        return None
    rel = raw.strip()
    while rel.startswith("./"):
        rel = rel[2:]
    if not rel or rel.startswith("/") or posixpath.normpath(rel) != rel:
        return None
    if any(part in ("..", ".git") for part in rel.split("/")):
        return None
    return rel


def _inside(root: Path, rel: str) -> bool:
    # Belt and braces next to the walk, which never follows symlinks: the resolved path
    # must still be a regular file under the resolved root.
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, rel))
    return real.startswith(real_root + os.sep) and not os.path.islink(os.path.join(root, rel))


def _readable(snap: RepoSnapshot, root: Path, raw: object) -> str | None:
    rel = _clean_rel(raw)
    if rel is None or not snap.has_file(rel) or not _inside(root, rel):
        return None
    return rel if snap.read(rel) is not None else None


def _line(snap: RepoSnapshot, rel: str, line: int) -> str | None:
    text = snap.read(rel, MAX_READ_BYTES)
    if text is None or line < 1:
        return None
    lines = text.splitlines()
    return lines[line - 1] if line <= len(lines) else None


class _Merger:
    """Applies one Implications answer to a copy of the analysis, noting what it did."""

    def __init__(self, analysis: Analysis, snap: RepoSnapshot, root: Path) -> None:
        self.out = analysis
        self.snap = snap
        self.root = root
        self.accepted: list[str] = []
        self.rejected: list[str] = []
        self.agreed: list[str] = []
        self.conflicts: list[str] = []

    @property
    def used(self) -> bool:
        return bool(self.accepted or self.agreed or self.conflicts)

    def cite(self, claim: Cited, needle: str | None, *, need_line: bool = True) -> Evidence | None:
        """Evidence for a claim when its citation exists (and its line shows ``needle``)."""
        rel = _readable(self.snap, self.root, claim.file) if claim.file else None
        if rel is None:
            return None
        if claim.line is None:
            return None if need_line else Evidence(file=rel)
        text = _line(self.snap, rel, claim.line)
        if text is None:
            return None
        if needle is not None and needle.lower() not in text.lower():
            return None
        return Evidence(file=rel, line=claim.line, text=text.strip()[:200])

    @staticmethod
    def where(claim: Cited, ev: Evidence | None) -> str:
        if ev is not None:
            return _ev_text(ev)
        if claim.file:
            cited = f"{claim.file}:{claim.line}" if claim.line else claim.file
            return f"cites {cited[:120]!r}, which does not show it"
        return "no citation"

    def port(self, claim: PortClaim | None) -> None:
        if claim is None:
            return
        out = self.out
        ev = self.cite(claim, str(claim.value))
        llm_side = f"LLM says {claim.value} ({self.where(claim, ev)})"
        det = out.port
        if det is None:
            if ev is None:
                self.rejected.append(f"port {claim.value}: {self.where(claim, ev)}")
                return
            out.port = PortFinding(value=claim.value, source="code", evidence=[ev])
            self.accepted.append(f"port {claim.value} ({_ev_text(ev)})")
            return
        det_side = f"{_SOURCE_TEXT[det.source]} says {det.value}" + (
            f" ({_ev_text(det.evidence[0])})" if det.evidence else ""
        )
        det_has_line = any(e.line is not None for e in det.evidence)
        weak = det.source == "framework-default" or (
            det.source != "description" and not det_has_line
        )
        if det.value == claim.value:
            if ev is not None and weak:
                out.port = PortFinding(value=claim.value, source="code", evidence=[ev])
                self.accepted.append(f"port {claim.value} now cites {_ev_text(ev)}")
            else:
                self.agreed.append("port")
            return
        if ev is not None and weak:
            old = det.value
            out.port = PortFinding(value=claim.value, source="code", evidence=[ev])
            if out.start_command:
                # The detector wrote the default port into the command it built.
                out.start_command = re.sub(
                    rf"(?<![0-9]){old}(?![0-9])", str(claim.value), out.start_command
                )
            self.conflicts.append(f"port: {det_side}, {llm_side} — kept {claim.value}")
            self.accepted.append(
                f"port {claim.value} ({_ev_text(ev)}) replaces {old} from "
                f"{_SOURCE_TEXT[det.source]}"
            )
            return
        self.conflicts.append(f"port: {det_side}, {llm_side} — kept {det.value}")

    def bind(self, claim: TextClaim | None) -> None:
        if claim is None:
            return
        raw = claim.value.strip().lower()
        if raw in _LOOPBACK or raw.startswith("127."):
            value, loopback = "127.0.0.1", True
        elif raw in _ALL_INTERFACES:
            value, loopback = "0.0.0.0", False
        else:
            self.rejected.append(f"bind address {claim.value[:60]!r}: not an address we use")
            return
        ev = self.cite(claim, claim.value.strip())
        out = self.out
        if out.bind_address is None:
            if ev is None:
                self.rejected.append(f"bind address {value}: {self.where(claim, ev)}")
                return
            out.bind_address, out.binds_loopback = value, loopback
            self.accepted.append(f"binds {value} ({_ev_text(ev)})")
        elif out.bind_address == value:
            self.agreed.append("bind address")
        else:
            self.conflicts.append(
                f"bind address: detectors say {out.bind_address}, LLM says {value} "
                f"({self.where(claim, ev)}) — kept {out.bind_address}"
            )

    def start(self, claim: TextClaim | None) -> None:
        if claim is None:
            return
        command = " ".join(claim.value.split())
        if not command or len(command) > 300 or any(ord(c) < 32 for c in claim.value.strip()):
            self.rejected.append("start command: not a single-line command")
            return
        ev = self.cite(claim, None, need_line=False)
        out = self.out
        if out.start_command is None:
            if ev is None:
                self.rejected.append(f"start command {command!r}: {self.where(claim, ev)}")
                return
            out.start_command = command
            self.accepted.append(f"start command `{command}` ({_ev_text(ev)})")
        elif " ".join(out.start_command.split()) == command:
            self.agreed.append("start command")
        else:
            self.conflicts.append(
                f"start command: detectors say `{out.start_command}`, LLM says `{command}` "
                f"({self.where(claim, ev)}) — kept `{out.start_command}`"
            )

    def env(self, claims: list[EnvClaim]) -> None:
        known = {v.name for v in self.out.env_vars}
        for claim in claims[:_MAX_ENV_CLAIMS]:
            name = claim.name.strip()
            if not _ENV_NAME.match(name):
                self.rejected.append(f"env var {name[:60]!r}: not a valid variable name")
                continue
            if name in known:
                self.agreed.append(f"env {name}")
                continue
            ev = self.cite(claim, name)
            if ev is None:
                self.rejected.append(f"env var {name}: {self.where(claim, ev)}")
                continue
            self.out.env_vars.append(
                EnvVar(
                    name=name,
                    secret=claim.secret or is_secret_name(name, None),
                    required=claim.required,
                    evidence=[ev],
                )
            )
            known.add(name)
            self.accepted.append(f"env var {name} ({_ev_text(ev)})")

    def services(self, claims: list[ServiceClaim]) -> None:
        present: set[str] = {s.kind for s in self.out.services}
        for claim in claims[:10]:
            kind = _SERVICE_ALIASES.get(claim.kind.strip().lower())
            if kind is None:
                self.rejected.append(f"service {claim.kind[:40]!r}: not one autodeploy bundles")
                continue
            if kind in present:
                self.agreed.append(f"service {kind}")
                continue
            ev = self.cite(claim, None)
            if ev is None:
                self.rejected.append(f"service {kind}: {self.where(claim, ev)}")
                continue
            self.out.services.append(BackingService(kind=kind, evidence=[ev]))
            present.add(kind)
            self.accepted.append(f"needs {kind} ({_ev_text(ev)})")

    def health(self, claim: TextClaim | None) -> None:
        if claim is None:
            return
        path = claim.value.strip()
        if not _HEALTH_PATH.match(path):
            self.rejected.append(f"health path {path[:60]!r}: not a URL path")
            return
        out = self.out
        ev = self.cite(claim, path)
        if out.health_path == path:
            self.agreed.append("health path")
        elif out.health_path == "/" and out.description.health_path is None:
            # "/" without a description override is the detectors' fallback, not a finding.
            if ev is None:
                self.rejected.append(f"health path {path}: {self.where(claim, ev)}")
                return
            out.health_path = path
            self.accepted.append(f"health path {path} ({_ev_text(ev)})")
        else:
            self.conflicts.append(
                f"health path: detectors say {out.health_path}, LLM says {path} "
                f"({self.where(claim, ev)}) — kept {out.health_path}"
            )

    def verdict(self, answer: Implications) -> None:
        hint = answer.verdict_hint
        if hint == "unsure":
            return
        if hint == self.out.verdict:
            self.agreed.append("verdict")
            return
        why = " ".join(answer.verdict_reason.split())[:200] or "no reason given"
        # The verdict decides whether anything gets deployed; it stays the detectors' call.
        self.conflicts.append(
            f"verdict: detectors say {self.out.verdict}, LLM says {hint} ({why}) — "
            f"kept {self.out.verdict}"
        )


def _fenced_files(snap: RepoSnapshot, picked: list[str]) -> str:
    parts: list[str] = []
    total = 0
    for rel in picked:
        text = snap.read(rel, MAX_READ_BYTES)
        if text is None:
            continue
        cut = text[:_FILE_PROMPT_BYTES]
        if len(text) > len(cut):
            cut += "\n[… truncated by autodeploy …]"
        if total + len(cut) > _TOTAL_PROMPT_BYTES:
            break
        total += len(cut)
        # Line numbers let the model cite lines we can check; they are outside the file's
        # own text, so they add no way out of the fence.
        numbered = "\n".join(f"{n:>5}| {line}" for n, line in enumerate(cut.splitlines(), 1))
        parts.append(fence_file(rel, numbered))
    return "\n\n".join(parts)


def _fallback_files(analysis: Analysis, snap: RepoSnapshot, root: Path) -> list[str]:
    seen: list[str] = []
    evidence = [
        *(analysis.port.evidence if analysis.port else []),
        *(e for c in analysis.candidates for e in c.evidence),
        *(e for v in analysis.env_vars for e in v.evidence),
        *(e for s in analysis.services for e in s.evidence),
    ]
    for ev in evidence:
        rel = _readable(snap, root, ev.file)
        if rel is not None and rel not in seen:
            seen.append(rel)
    return seen[:MAX_PICKED_FILES]


async def _flush(client: LLMClient, log: Log) -> None:
    for note in client.take_notes():
        await log(f"analyzer: {note}")


async def refine_analysis(
    root: Path,
    analysis: Analysis,
    description: str,
    client: LLMClient,
    log: Log,
) -> Analysis:
    """Review the deterministic analysis with the LLM; on any failure return it unchanged."""
    try:
        return await _refine(root, analysis, description, client, log)
    except LLMUnavailable as exc:
        await _flush(client, log)
        await log(f"analyzer: LLM unavailable ({exc.reason}); keeping the deterministic analysis")
    except Exception as exc:
        # The LLM path is an optional extra: whatever goes wrong in it must not fail a
        # job that the deterministic analysis can carry on its own.
        logger.exception("LLM refinement failed")
        await log(
            f"analyzer: LLM refinement failed ({type(exc).__name__}); "
            "keeping the deterministic analysis"
        )
    return analysis


async def _refine(
    root: Path, analysis: Analysis, description: str, client: LLMClient, log: Log
) -> Analysis:
    snap = await asyncio.to_thread(
        walk_repository, root, max_tree_entries=max(len(analysis.tree), 1)
    )
    findings = fence_data("deterministic-findings", _findings(analysis))
    request = fence_data("description", description)
    tree = analysis.tree[:_TREE_PROMPT_ENTRIES]
    tree_note = " (truncated)" if analysis.tree_truncated or len(analysis.tree) > len(tree) else ""

    choice = await client.ask_json(
        system=_PICK_SYSTEM,
        user=(
            "The user's description of the deployment:\n"
            f"{request}\n\nRepository tree, depth 4{tree_note}:\n"
            f"{fence_data('tree', chr(10).join(tree))}\n\n"
            f"What the detectors found:\n{findings}"
        ),
        schema=FileChoice,
        purpose="analyzer.pick_files",
    )
    await _flush(client, log)
    picked: list[str] = []
    refused = 0
    for raw in choice.files:
        rel = await asyncio.to_thread(_readable, snap, root, raw)
        if rel is None:
            refused += 1
        elif rel not in picked:
            picked.append(rel)
        if len(picked) == MAX_PICKED_FILES:
            break
    if not picked:
        picked = await asyncio.to_thread(_fallback_files, analysis, snap, root)
        await log(
            "analyzer: the LLM picked no readable file; using the detectors' evidence files "
            f"instead ({', '.join(picked) or 'none'})"
        )
    else:
        await log(
            f"analyzer: LLM picked {len(picked)} file(s): {', '.join(picked)}"
            + (
                f" ({refused} path(s) refused: missing, outside the repository or symlinks)"
                if refused
                else ""
            )
        )
    if not picked:
        await log("analyzer: no file to show the LLM; keeping the deterministic analysis")
        return analysis
    files = await asyncio.to_thread(_fenced_files, snap, picked)

    answer = await client.ask_json(
        system=_IMPLY_SYSTEM,
        user=(
            f"The user's description of the deployment:\n{request}\n\n"
            f"What the detectors found:\n{findings}\n\n"
            "The files (each line prefixed with its number and '| ', which is not part of "
            f"the file):\n{files}"
        ),
        schema=Implications,
        purpose="analyzer.implications",
    )
    await _flush(client, log)

    merger = _Merger(analysis.model_copy(deep=True), snap, root)
    await asyncio.to_thread(_apply, merger, answer)
    if not merger.used:
        await log(
            "analyzer: the LLM answer had nothing that checks out against the files "
            f"({'; '.join(merger.rejected) or 'it was empty'}); keeping the deterministic analysis"
        )
        return analysis
    out = merger.out
    out.llm_used = True
    out.conflicts.extend(merger.conflicts)
    summary = "; ".join(merger.accepted) or "it agreed with the detectors"
    out.reasons.append(f"LLM review ({client.calls_made} call(s)): {summary}")
    if merger.rejected:
        out.reasons.append(
            "LLM claims not used (no citation that checks out): " + "; ".join(merger.rejected)
        )
    await log(
        f"analyzer: LLM review merged: {summary}"
        + (f"; {len(merger.conflicts)} conflict(s) recorded" if merger.conflicts else "")
    )
    for conflict in merger.conflicts:
        await log(f"analyzer: conflict: {conflict}")
    return out


def _apply(merger: _Merger, answer: Implications) -> None:
    if merger.out.verdict == "http-service":
        merger.port(answer.port)
        merger.bind(answer.bind_address)
        merger.start(answer.start_command)
        merger.env(answer.env_vars)
        merger.services(answer.services)
        merger.health(answer.health_path)
    merger.verdict(answer)
