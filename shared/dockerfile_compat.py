"""Make a repository's own Dockerfile build on this engine's classic builder and local images.

Two things a Dockerfile written for Docker Hub and BuildKit does that fail here, each
rewritten in the localised copy the provisioner builds (the repository is never changed)
and each said in the job log:

- ``COPY package*.json .``: BuildKit takes ``.`` as a folder; the classic builder (the only
  one the engine's API drives) refuses several sources unless the destination ends in
  ``/``. ``.`` becomes ``./``, which means the same to both.
- ``apk add ...`` in a stage whose Alpine base image is mapped onto a Debian-based local
  one (BASE_IMAGE_OVERRIDES): there is no ``apk``. The packages are installed with
  ``apt-get`` under their Debian names; packages that only exist to make musl look like
  glibc (``libc6-compat``, ``gcompat``) are left out, since Debian is glibc already.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from shared.images import apply_base_image_overrides

__all__ = ["APK_TO_APT", "classic_builder_dockerfile"]

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


def _logical_lines(text: str) -> list[str]:
    """Instructions with their backslash continuations joined (comments kept as lines)."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction is not part of it
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending.rstrip())
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
    for line in _logical_lines(text):
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
