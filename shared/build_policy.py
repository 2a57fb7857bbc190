"""What a Dockerfile we are about to build may not do, whoever wrote it.

The Docker engine fetches ``ADD <url>`` itself, from the host's network namespace: a
repository's Dockerfile could read loopback services or a cloud metadata endpoint and
bake the answer into an image we then run and log. ``RUN --network=host`` and
``RUN --security=insecure`` lift a build step out of its sandbox. These are refused in
any Dockerfile that is built (the repository's own or a proposed one), by the generator
when it checks a bundle and again by the provisioner right before it builds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DockerfileRefusal", "check_dockerfile"]

_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$")
# scheme://…, scp-like git remotes (git@host:path) and anything with a variable, which
# a build argument could turn into a URL.
_REMOTE_RE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[\w.-]+@[\w.-]+:)")
_RUN_FLAGS = {
    "--network=host": "RUN --network=host gives the build step the host's network",
    "--security=insecure": "RUN --security=insecure runs the build step without its sandbox",
}


@dataclass(frozen=True, slots=True)
class DockerfileRefusal:
    """One instruction that will not be built, where it is, and why."""

    line: int
    message: str


def check_dockerfile(text: str) -> list[DockerfileRefusal]:
    """Every instruction of ``text`` that must not reach a build (empty list: may build)."""
    refusals: list[DockerfileRefusal] = []
    for line, instruction, args in _instructions(text):
        if instruction == "ONBUILD" and args:
            instruction, _, rest = args.partition(" ")
            instruction, args = instruction.upper(), rest.strip()
        if instruction == "ADD":
            refusals.extend(_check_add(line, args))
        elif instruction == "RUN":
            refusals.extend(_check_run(line, args))
    return refusals


def _check_add(line: int, args: str) -> Iterator[DockerfileRefusal]:
    flags, operands = _split_flags(args)
    sources = operands[:-1] if len(operands) > 1 else operands
    checksum = (
        " (--checksum does not make it safe)"
        if any(f.startswith("--checksum") for f in flags)
        else ""
    )
    for source in sources:
        if _REMOTE_RE.match(source):
            yield DockerfileRefusal(
                line,
                f"ADD {source[:120]} is fetched by the Docker engine from the host's network"
                f"{checksum}; download it in a RUN step or vendor the file and COPY it",
            )
        elif "$" in source:
            yield DockerfileRefusal(
                line,
                f"ADD {source[:120]}: a variable in an ADD source can expand to a URL the "
                "engine would fetch; use COPY with a literal path",
            )


def _check_run(line: int, args: str) -> Iterator[DockerfileRefusal]:
    flags, _ = _split_flags(args)
    for flag in flags:
        reason = _RUN_FLAGS.get(flag.lower().replace(" ", ""))
        if reason:
            yield DockerfileRefusal(line, f"{reason}; remove the flag")


def _split_flags(args: str) -> tuple[list[str], list[str]]:
    """(--flags, operands) of an instruction, in shell or JSON (exec) form."""
    words = args.split()
    flags: list[str] = []
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    rest = " ".join(words)
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return flags, parsed
    return flags, words


def _instructions(text: str) -> Iterator[tuple[int, str, str]]:
    """(first line number, INSTRUCTION, arguments) with continuations joined.

    Comments are skipped. Heredoc bodies are not: the classic builder has no heredocs
    and would run such a line as an instruction, so every line is read as one.
    """
    escape = "\\"
    lines = text.splitlines()
    index = 0
    in_directives = True
    while index < len(lines):
        raw = lines[index]
        stripped = raw.strip()
        if in_directives:
            match = _DIRECTIVE_RE.match(stripped)
            if match and match.group(1).lower() == "escape" and match.group(2) in {"\\", "`"}:
                escape = match.group(2)
                index += 1
                continue
            if not match:
                in_directives = False
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index + 1
        parts: list[str] = []
        while True:
            piece = lines[index].rstrip()
            continued = piece.endswith(escape)
            if not lines[index].strip().startswith("#"):
                parts.append(piece[:-1] if continued else piece)
            index += 1
            if not continued or index >= len(lines):
                break
        joined = " ".join(p.strip() for p in parts if p.strip())
        instruction, _, args = joined.partition(" ")
        yield start, instruction.upper(), args.strip()
