"""Optional LLM improvement of a generated bundle, behind the same guardrails as the bundle.

The LLM proposes new versions of the bundle's files (or new files under
``.autodeploy/``); the proposal is laid over the deterministic bundle, checked for safe
paths and run through ``validate_bundle``. Violations are fed back for a bounded number
of repair rounds; if the bundle still does not pass, the deterministic files are used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import posixpath
from collections.abc import Awaitable, Callable, Mapping

from pydantic import BaseModel, Field

from services.generator.bundle import validate_bundle
from shared.analysis import Analysis
from shared.contracts.violations import Violation
from shared.llm import LLMClient, LLMUnavailable, fence_data, fence_file

__all__ = ["BundleProposal", "ProposedFile", "check_paths", "improve_bundle"]

logger = logging.getLogger(__name__)

EXTRA_DIR = ".autodeploy/"
_MAX_FILES = 30
_MAX_FILE_CHARS = 200_000

Log = Callable[[str], Awaitable[None]]


class ProposedFile(BaseModel):
    """One file of the proposal: a repository-relative path and its full new content."""

    path: str
    content: str


class BundleProposal(BaseModel):
    """The LLM's proposal: files to replace (or add under .autodeploy/), and why."""

    files: list[ProposedFile] = Field(default_factory=list)
    notes: str = ""


_SYSTEM = (
    "You review a deployment bundle (Dockerfile, compose file, Makefile, Terraform, docs) "
    "that autodeploy generated for a repository, and propose improved versions: more "
    "correct for this app, equally safe. Keep every guarantee the bundle already gives "
    "(non-root user, pinned base images, health checks, only the app port published, "
    "every Terraform resource tagged with the job id, no provisioners, no external data "
    "sources, no SSH or RDP open to the world). Return only files you change, each with "
    "its complete new content; use only the bundle's own paths, or new paths under "
    f"{EXTRA_DIR}. Answer as "
    '{"files": [{"path": "...", "content": "..."}], "notes": "what you changed and why"}.'
)


def check_paths(
    proposal: BundleProposal, bundle: Mapping[str, str], repo_tree: list[str]
) -> list[Violation]:
    """Paths the proposal may not write: unsafe, foreign to the bundle, or repository files."""
    problems: list[Violation] = []
    existing = set(repo_tree)
    if len(proposal.files) > _MAX_FILES:
        problems.append(
            Violation("llm-path", "(proposal)", None, f"more than {_MAX_FILES} files proposed")
        )
    seen: set[str] = set()
    for item in proposal.files[:_MAX_FILES]:
        path = item.path
        shown = path[:200]

        def bad(message: str, shown: str = shown) -> None:
            problems.append(Violation("llm-path", shown, None, message))

        if not path or any(ord(c) < 32 for c in path) or "\\" in path:
            bad("the path is empty or has control characters or backslashes")
        elif path.startswith("/") or (len(path) > 1 and path[1] == ":"):
            bad("absolute paths are refused; use a path relative to the repository root")
        elif ".." in path.split("/"):
            bad("paths with '..' are refused: bundle files stay inside the repository")
        elif posixpath.normpath(path) != path:
            bad(f"write the path in normal form ({posixpath.normpath(path)!r})")
        elif ".git" in path.split("/"):
            bad("nothing may be written under .git/")
        elif path not in bundle and not path.startswith(EXTRA_DIR):
            bad(
                "only the bundle's own files may be changed "
                f"({', '.join(sorted(bundle))}); new files go under {EXTRA_DIR}"
            )
        elif path not in bundle and path in existing:
            bad("the repository already has this file; the bundle never overwrites it")
        elif path in seen:
            bad("the same path appears twice in the proposal")
        elif len(item.content) > _MAX_FILE_CHARS:
            bad(f"the file is longer than {_MAX_FILE_CHARS} characters")
        seen.add(path)
    return problems


def _analysis_summary(analysis: Analysis) -> str:
    keep = {
        "app_root",
        "language",
        "framework",
        "package_manager",
        "runtime_version",
        "port",
        "bind_address",
        "binds_loopback",
        "start_command",
        "build_command",
        "static_dir",
        "health_path",
        "env_vars",
        "services",
        "docker",
        "target",
        "conflicts",
    }
    return json.dumps(analysis.model_dump(mode="json", include=keep), indent=1)[:40_000]


def _fenced_bundle(files: Mapping[str, str]) -> str:
    return "\n\n".join(fence_file(path, text) for path, text in sorted(files.items()))


async def _flush(client: LLMClient, log: Log) -> None:
    for note in client.take_notes():
        await log(f"generator: {note}")


async def improve_bundle(
    analysis: Analysis,
    files: dict[str, str],
    client: LLMClient,
    log: Log,
    *,
    max_repair_rounds: int = 2,
) -> tuple[dict[str, str], str]:
    """Let the LLM improve the bundle; return the files to use and which source was used."""
    try:
        return await _improve(analysis, files, client, log, max_repair_rounds)
    except LLMUnavailable as exc:
        await _flush(client, log)
        reason = f"LLM unavailable ({exc.reason})"
    except Exception as exc:
        # The LLM path is an optional extra: whatever goes wrong in it must not fail a
        # job that the deterministic bundle can carry on its own.
        logger.exception("LLM bundle improvement failed")
        reason = f"LLM improvement failed ({type(exc).__name__})"
    await log(f"generator: {reason}; using the deterministic bundle")
    return files, f"deterministic: {reason}"


async def _improve(
    analysis: Analysis,
    files: dict[str, str],
    client: LLMClient,
    log: Log,
    max_repair_rounds: int,
) -> tuple[dict[str, str], str]:
    # A bundle the checks already refuse (a missing linter, say) would fail every
    # proposal for reasons the LLM cannot fix; only problems it introduced count.
    baseline = {str(v) for v in await asyncio.to_thread(validate_bundle, files)}
    base_prompt = (
        "What the analysis concluded about the repository (derived from repository "
        f"files, so untrusted):\n{fence_data('analysis', _analysis_summary(analysis))}\n\n"
        f"The generated bundle, file by file:\n{_fenced_bundle(files)}"
    )
    prompt = base_prompt
    violations: list[Violation] = []
    for round_ in range(max_repair_rounds + 1):
        proposal = await client.ask_json(
            system=_SYSTEM,
            user=prompt,
            schema=BundleProposal,
            purpose="generator.improve" if round_ == 0 else "generator.repair",
        )
        await _flush(client, log)
        violations = check_paths(proposal, files, analysis.tree)
        merged = dict(files)
        if not violations:
            merged.update({f.path: f.content for f in proposal.files})
            found = await asyncio.to_thread(validate_bundle, merged)
            violations = [v for v in found if str(v) not in baseline]
        if not violations:
            if merged == files:
                await log("generator: the LLM proposed no changes; using the deterministic bundle")
                return files, "deterministic: the LLM proposed no changes"
            changed = sorted(p for p in merged if merged[p] != files.get(p))
            used = "llm" if round_ == 0 else f"llm after {round_} repair{'s' * (round_ > 1)}"
            await log(f"generator: using the LLM's bundle ({used}); changed {', '.join(changed)}")
            return merged, used
        listed = "\n".join(f"- {v}" for v in violations[:20])
        await log(
            f"generator: the LLM's proposal was refused ({len(violations)} problem(s)): "
            + "; ".join(str(v) for v in violations[:5])
        )
        if round_ == max_repair_rounds:
            break
        proposed = {f.path[:200]: f.content for f in proposal.files[:_MAX_FILES]}
        prompt = (
            f"{base_prompt}\n\nYour previous proposal:\n{_fenced_bundle(proposed)}\n\n"
            "It was refused by autodeploy's checks for these reasons:\n"
            f"{listed}\n\nPropose again with every one of these problems fixed; return "
            "complete files."
        )
    reason = (
        f"the LLM's proposal still failed the checks after {max_repair_rounds} repair "
        f"round(s): {violations[0]}"
    )
    await log(f"generator: {reason}; using the deterministic bundle")
    return files, f"deterministic: {reason}"
