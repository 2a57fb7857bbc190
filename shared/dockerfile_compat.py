"""Make a repository's own Dockerfile build on this engine's classic builder and local images.

What a Dockerfile written for Docker Hub and BuildKit does that fails here is rewritten in
the localised copy the provisioner builds (the repository is never changed), each rewrite
said in the job log:

- ``COPY package*.json .``: BuildKit takes ``.`` as a folder; the classic builder (the only
  one the engine's API drives) refuses several sources unless the destination ends in
  ``/``. ``.`` becomes ``./``, which means the same to both.
- ``apk add ...`` in a stage whose Alpine base image is mapped onto a Debian-based local
  one (BASE_IMAGE_OVERRIDES): there is no ``apk``. The packages are installed with
  ``apt-get`` under their Debian names; packages that only exist to make musl look like
  glibc (``libc6-compat``, ``gcompat``) are left out, since Debian is glibc already.
- BuildKit-only syntax (uv's Docker guide uses it): ``RUN --mount=type=cache`` loses the
  mount (what the step caches stays in the image); ``RUN --mount=type=bind,source=S,
  target=T`` becomes ``COPY S T`` before the RUN (the file then stays in the image, where
  the bind mount would have shown it only during the step); ``type=tmpfs`` and
  ``--network`` are dropped; ``COPY --link`` loses the flag (same files, same layer
  contents); a ``RUN`` with heredocs runs the same script through ``eval``.

What has no classic-builder equivalent (secret and ssh mounts, ``--security=insecure``,
``COPY --chmod``/``--exclude``/``--parents``, ``COPY <<EOF``, a heredoc script with its
own interpreter line) raises ``UnsupportedInstruction`` naming the instruction and its line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.images import apply_base_image_overrides

__all__ = ["APK_TO_APT", "UnsupportedInstruction", "classic_builder_dockerfile"]

# Alpine package -> Debian package; None: nothing to install on Debian. A name missing here
# is passed to apt-get unchanged, so a package Debian lacks fails the build by its name.
APK_TO_APT: dict[str, str | None] = {
    "libc6-compat": None,
    "gcompat": None,
    "build-base": "build-essential",
    "alpine-sdk": "build-essential",
    "musl-dev": "libc6-dev",
    "linux-headers": "linux-libc-dev",
    "py3-pip": "python3-pip",
    "python3-dev": "python3-dev",
    "openssl-dev": "libssl-dev",
    "libffi-dev": "libffi-dev",
    "zlib-dev": "zlib1g-dev",
    "jpeg-dev": "libjpeg-dev",
    "libpng-dev": "libpng-dev",
    "vips-dev": "libvips-dev",
    "postgresql-dev": "libpq-dev",
    "libpq-dev": "libpq-dev",
    "postgresql-client": "postgresql-client",
    "mariadb-dev": "libmariadb-dev",
    "mariadb-client": "mariadb-client",
    "libstdc++": "libstdc++6",
    "openssh": "openssh-client",
    "openssh-client": "openssh-client",
    "netcat-openbsd": "netcat-openbsd",
    "bind-tools": "dnsutils",
    "chromium": "chromium",
}

_FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?", re.IGNORECASE
)
_COPY_DOT = re.compile(
    r"^(?P<head>\s*(?:COPY|ADD)\s+(?!\[)(?:.*\s)?)\.(?P<tail>\s*)$", re.IGNORECASE
)
_RUN = re.compile(r"^\s*RUN\s", re.IGNORECASE)
# One apk command up to the next shell operator: `apk --no-cache add a b`, `apk update`.
_APK = re.compile(r"\bapk\s+(?P<args>[^;&|\n]*)")
_APK_OPTS_WITH_VALUE = {"--virtual", "-t", "--repository", "-X", "--arch", "--root", "-p"}


class UnsupportedInstruction(ValueError):
    """A Dockerfile instruction the classic builder cannot run and no rewrite makes equal."""

    def __init__(self, line: int, instruction: str, why: str) -> None:
        self.line = line
        self.instruction = instruction
        shown = instruction if len(instruction) <= 120 else instruction[:117] + "..."
        super().__init__(f"line {line}: `{shown}`: {why}")


# `<<EOF`, `<<-EOF`, `<<"EOF"`: a heredoc opener as BuildKit reads it in RUN/COPY/ADD.
_HEREDOC = re.compile(r"(?:^|\s)<<(?P<dash>-?)(?P<q>[\"']?)(?P<word>[A-Za-z_][\w.-]*)(?P=q)")
_HEREDOC_INSTRUCTIONS = re.compile(r"^\s*(?:RUN|COPY|ADD)\s", re.IGNORECASE)


@dataclass
class _Instruction:
    line: int  # 1-based line of the Dockerfile where it starts
    text: str  # continuation lines joined
    heredocs: list[list[str]] = field(default_factory=list)  # bodies, terminator included


def _logical_lines(text: str) -> list[_Instruction]:
    """Instructions with their backslash continuations joined (comments kept as lines)."""
    out: list[_Instruction] = []
    pending = ""
    start = 0
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction is not part of it
        if not pending:
            start = index
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        instruction = _Instruction(start, pending + line)
        pending = ""
        if _HEREDOC_INSTRUCTIONS.match(instruction.text):
            for opener in _HEREDOC.finditer(instruction.text):
                body: list[str] = []
                while index < len(lines):
                    body.append(lines[index])
                    index += 1
                    end = body[-1].lstrip("\t") if opener.group("dash") else body[-1]
                    if end == opener.group("word"):
                        break
                instruction.heredocs.append(body)
        out.append(instruction)
    if pending:
        out.append(_Instruction(start, pending.rstrip()))
    return out


def _apt_for_apk(args: str, notes: list[str]) -> str:
    words = args.split()
    command = None
    packages: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in _APK_OPTS_WITH_VALUE:
            skip = True
            continue
        if word.startswith("-"):
            continue
        if command is None:
            command = word
            continue
        packages.append(re.split(r"[=<>~]", word, maxsplit=1)[0])
    if command != "add":
        # update/upgrade/del/cache: apt-get update runs with the install; nothing to undo.
        return "true"
    debian: list[str] = []
    dropped: list[str] = []
    for name in packages:
        mapped = APK_TO_APT.get(name, name)
        if mapped is None:
            dropped.append(name)
        elif mapped not in debian:
            debian.append(mapped)
    note = f"apk add {' '.join(packages)} -> "
    if dropped:
        notes.append(
            note
            + (f"apt-get install {' '.join(debian)}" if debian else "nothing")
            + f" ({', '.join(dropped)}: glibc shims Debian does not need)"
        )
    else:
        notes.append(note + f"apt-get install {' '.join(debian)}")
    if not debian:
        return "true"
    quoted = " ".join(shlex.quote(name) for name in debian)
    return (
        "apt-get update && apt-get install -y --no-install-recommends "
        f"{quoted} && rm -rf /var/lib/apt/lists/*"
    )


def classic_builder_dockerfile(text: str, overrides: Mapping[str, str]) -> tuple[str, list[str]]:
    """The Dockerfile rewritten for the classic builder and the mapped images; log lines.

    Returns ``text`` itself (and no lines) when nothing needed rewriting.
    """
    notes: list[str] = []
    alpine_stages: set[str] = set()
    in_alpine = False
    changed = False
    out: list[str] = []
    for instruction in _logical_lines(text):
        line = instruction.text
        buildkit = _buildkit_only(instruction, notes)
        if buildkit is not None:
            out.extend(buildkit[:-1])
            line = buildkit[-1]
            changed = True
        from_match = _FROM.match(line)
        if from_match:
            image = from_match.group("image")
            if image.lower() in alpine_stages:
                in_alpine = True
            else:
                mapped = apply_base_image_overrides(image, overrides)
                in_alpine = _is_alpine(image) and not _is_alpine(mapped)
            stage = from_match.group("stage")
            if stage and in_alpine:
                alpine_stages.add(stage.lower())
            out.append(line)
            continue
        copy_match = _COPY_DOT.match(line)
        if copy_match and _several_sources(copy_match.group("head")):
            new = copy_match.group("head") + "./" + copy_match.group("tail")
            notes.append(f"`{line.strip()}` -> `{new.strip()}` (the classic builder needs the /)")
            out.append(new)
            changed = True
            continue
        if in_alpine and _RUN.match(line) and _APK.search(line):
            new = _APK.sub(lambda m: _apt_for_apk(m.group("args"), notes) + _trail(m), line)
            out.append(new)
            changed = True
            continue
        out.append(line)
    if not changed:
        return text, []
    return "\n".join(out) + "\n", notes


_FLAGS = re.compile(
    r"^(?P<head>\s*(?P<cmd>RUN|COPY|ADD)\s+)(?P<flags>(?:--[\w-]+(?:=\S*)?\s+)+)", re.IGNORECASE
)
# COPY/ADD flags the classic builder knows; --link only changes how BuildKit caches layers.
_CLASSIC_COPY_FLAGS = {"--from", "--chown"}


def _buildkit_only(instruction: _Instruction, notes: list[str]) -> list[str] | None:
    """The instruction as classic-builder lines (extra COPYs first), or None if unchanged."""
    line = instruction.text
    match = _FLAGS.match(line)
    if match is None and not instruction.heredocs:
        return None
    before: list[str] = []
    kept: list[str] = []
    command = match.group("cmd").upper() if match else line.split()[0].upper()
    for flag in match.group("flags").split() if match else []:
        name, _, value = flag.partition("=")
        name = name.lower()
        if command == "RUN":
            if name == "--mount":
                copy = _mount(value, instruction, notes)
                if copy:
                    before.append(copy)
                continue
            if name == "--network" or (name == "--security" and value == "sandbox"):
                notes.append(f"`RUN {flag}` dropped (the classic builder has no such switch)")
                continue
            raise UnsupportedInstruction(
                instruction.line, line.strip(), f"RUN {name} has no classic-builder equivalent"
            )
        if name in _CLASSIC_COPY_FLAGS:
            kept.append(flag)
        elif name == "--link":
            notes.append(
                f"`{command} --link` dropped (same files; only BuildKit's caching differs)"
            )
        else:
            raise UnsupportedInstruction(
                instruction.line,
                line.strip(),
                f"{command} {name} needs BuildKit and has no classic-builder equivalent",
            )
    flags = match.group("flags").split() if match else []
    if not before and not instruction.heredocs and kept == flags:
        return None  # only flags the classic builder knows
    if match:
        head, rest = match.group("head"), line[match.end() :]
    else:
        head, _, rest = line.partition(line.split()[0])
        head += command + " "
        rest = rest.lstrip()
    if instruction.heredocs:
        rest = _heredoc_script(command, rest, instruction, notes)
    new = head + "".join(f"{flag} " for flag in kept) + rest
    return [*before, new]


_SECRET = ("secret", "ssh")


def _mount(spec: str, instruction: _Instruction, notes: list[str]) -> str | None:
    """A COPY that stands in for a bind mount; None for mounts that are just dropped."""
    options: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        options[key.strip().lower()] = value.strip() if sep else "true"
    kind = options.get("type", "bind")
    target = options.get("target") or options.get("dst") or options.get("destination") or ""
    if kind == "cache":
        notes.append(
            f"`--mount=type=cache,target={target}` dropped (no build cache mounts in the classic "
            "builder; what the step caches there stays in the image)"
        )
        return None
    if kind == "tmpfs":
        notes.append(f"`--mount=type=tmpfs,target={target}` dropped (files written there stay)")
        return None
    if kind == "bind" and target:
        source = options.get("source") or options.get("src") or "."
        origin = options.get("from")
        copy = "COPY " + (f"--from={origin} " if origin else "") + f"{source} {target}"
        notes.append(
            f"`--mount=type=bind,source={source},target={target}` -> `{copy}` before the RUN "
            "(the classic builder has no bind mounts; the copy stays in the image)"
        )
        return copy
    raise UnsupportedInstruction(
        instruction.line,
        instruction.text.strip(),
        f"a --mount of type {kind} has no classic-builder equivalent"
        + (" (a secret or ssh key is never copied into an image)" if kind in _SECRET else ""),
    )


def _heredoc_script(command: str, rest: str, instruction: _Instruction, notes: list[str]) -> str:
    """``RUN <<EOF ... EOF`` as one line: the same script, its lines printed and eval'ed."""
    if command != "RUN":
        raise UnsupportedInstruction(
            instruction.line,
            instruction.text.strip(),
            f"a heredoc in {command} needs BuildKit (write the file in the repository instead)",
        )
    if (
        rest.strip().startswith(("<<", "<<-"))
        and instruction.heredocs[0][:1]
        and (instruction.heredocs[0][0].startswith("#!"))
    ):
        raise UnsupportedInstruction(
            instruction.line,
            instruction.text.strip(),
            "a heredoc script with its own interpreter line needs BuildKit",
        )
    if rest.lstrip().startswith("["):
        raise UnsupportedInstruction(
            instruction.line, instruction.text.strip(), "a heredoc in an exec-form RUN"
        )
    script = [rest.strip()] + [line for body in instruction.heredocs for line in body]
    if len(instruction.heredocs) == 1 and _HEREDOC.fullmatch(" " + rest.strip()):
        script = instruction.heredocs[0][:-1]  # `RUN <<EOF`: the body is the whole script
    notes.append(
        f"`RUN` with a heredoc ({len(script)} lines) -> one RUN that evals the same script "
        "(the classic builder reads no heredocs)"
    )
    quoted = " ".join(shlex.quote(line) for line in script)
    return f"eval \"$(printf '%s\\n' {quoted})\""


def _trail(match: re.Match[str]) -> str:
    args = match.group("args")
    return args[len(args.rstrip()) :]


def _several_sources(head: str) -> bool:
    """Does ``COPY <head> .`` name more than one source, or a wildcard that may match more?"""
    try:
        words = shlex.split(head)[1:]
    except ValueError:
        return False
    sources = [w for w in words if not w.startswith("--")]
    return len(sources) > 1 or any(ch in w for w in sources for ch in "*?[")


def _is_alpine(image: str) -> bool:
    name, _, tag = image.partition(":")
    return name.rsplit("/", 1)[-1] == "alpine" or "alpine" in tag
