"""The base-image override setting, and the mapping from official images to honest local ones.

Every stage that builds reads ``BASE_IMAGE_OVERRIDES`` through this module. The mapping of
official names (``python:3.12-slim``) onto the local images ``make images`` builds is
computed here too, from what each local image really runs (its ``autodeploy.runtime`` and
``autodeploy.runtime-version`` labels): the exact version when one is there, otherwise the
nearest newer one, otherwise the newest (older than asked; the job log says so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RUNTIMES_KEY",
    "LocalImage",
    "apply_base_image_overrides",
    "dockerfile_base_images",
    "load_base_image_overrides",
    "load_base_image_runtimes",
    "older_local_image",
    "older_stand_in",
    "override_dockerfile_images",
    "override_mapping",
    "pick_image",
    "version_tuple",
]

# The key under which an override file lists what each local image runs, e.g.
# {"autodeploy-local/python:3.13-slim": "python 3.13.5"}; keys starting with "_" are
# metadata, never image names.
RUNTIMES_KEY = "_runtimes"


def _load(setting: str) -> dict[str, object]:
    if not setting.strip():
        return {}
    text = setting if setting.lstrip().startswith("{") else Path(setting).read_text()
    mapping = json.loads(text)
    if not isinstance(mapping, dict):
        raise ValueError("BASE_IMAGE_OVERRIDES must be a JSON object of image → image")
    return mapping


def load_base_image_overrides(setting: str) -> dict[str, str]:
    """BASE_IMAGE_OVERRIDES: a JSON object, or the path of a JSON file holding one."""
    mapping = _load(setting)
    return {str(k): str(v) for k, v in mapping.items() if not str(k).startswith("_")}


def load_base_image_runtimes(setting: str) -> dict[str, str]:
    """What each local image of BASE_IMAGE_OVERRIDES runs ("python 3.13.5"); {} if unknown."""
    runtimes = _load(setting).get(RUNTIMES_KEY)
    if not isinstance(runtimes, dict):
        return {}
    return {str(k): str(v) for k, v in runtimes.items()}


@dataclass(frozen=True)
class LocalImage:
    """A local image and what it provably runs (read from its labels)."""

    ref: str
    runtime: str
    version: str


def version_tuple(text: str) -> tuple[int, ...]:
    """``"3.13.5"`` -> (3, 13, 5); ``"v22"`` -> (22,); () when there is no number."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def pick_image(
    requested: tuple[int, ...], images: Sequence[LocalImage], *, precision: int
) -> tuple[LocalImage, str] | None:
    """The image for a requested version, and how it relates to it.

    ``precision`` is how many parts must match (Python 2: 3.13; Node 1: 22). Returns
    (image, "exact" | "nearest newer" | "older"): the exact line when present, else the
    oldest newer one (newer runtimes run older code far more often than the reverse),
    else the newest there is. ``requested == ()`` (no version asked) takes the newest.
    """
    if not images:
        return None

    def line(image: LocalImage) -> tuple[int, ...]:
        return version_tuple(image.version)[:precision]

    newest = max(images, key=line)
    if not requested:
        return newest, "newest"
    wanted = requested[:precision]
    exact = [image for image in images if line(image) == wanted]
    if exact:
        return exact[0], "exact"
    newer = [image for image in images if line(image) > wanted]
    if newer:
        return min(newer, key=line), "nearest newer"
    return newest, "older"


@dataclass(frozen=True)
class _Family:
    """The official tags a runtime's local images stand in for."""

    repo: str
    precision: int
    versions: tuple[str, ...]
    variants: tuple[str, ...]
    floating: tuple[str, ...] = ("latest",)
    # Words some repositories put before the version (denoland/deno:debian-2.1.4).
    prefixes: tuple[str, ...] = ("",)
    # A tag whose variant no rule names falls back to the bare version's image, unless the
    # variant adds a runtime the bare image lacks (uv:0.9-python3.12-bookworm is uv AND
    # Python; the bare uv image holds the two binaries only): then it stays unmapped.
    trim_variants: bool = True


_FAMILIES: dict[str, _Family] = {
    "python": _Family(
        "python",
        2,
        ("3", *(f"3.{minor}" for minor in range(7, 15))),
        (
            "",
            "-slim",
            "-alpine",
            "-bookworm",
            "-slim-bookworm",
            "-bullseye",
            "-slim-bullseye",
            "-trixie",
            "-slim-trixie",
        ),
        ("latest", "slim", "alpine"),
    ),
    "node": _Family(
        "node",
        1,
        tuple(str(major) for major in range(14, 26)),
        (
            "",
            "-slim",
            "-alpine",
            "-bookworm",
            "-bookworm-slim",
            "-bullseye",
            "-bullseye-slim",
            "-trixie",
            "-trixie-slim",
        ),
        ("latest", "lts", "lts-slim", "lts-alpine", "current", "current-slim", "slim", "alpine"),
    ),
    "nginx": _Family(
        "nginx",
        2,
        tuple(f"1.{minor}" for minor in range(20, 30)),
        ("", "-alpine", "-bookworm", "-alpine-slim"),
        ("latest", "stable", "stable-alpine", "mainline", "mainline-alpine", "alpine"),
    ),
    "postgres": _Family(
        "postgres",
        1,
        tuple(str(major) for major in range(12, 19)),
        ("", "-alpine", "-bookworm", "-bullseye"),
        ("latest", "alpine"),
    ),
    "redis": _Family(
        "redis",
        1,
        ("6", "6.2", "7", "7.0", "7.2", "7.4", "8"),
        ("", "-alpine", "-bookworm"),
        ("latest", "alpine"),
    ),
    "debian": _Family(
        "debian",
        1,
        ("11", "12", "13"),
        ("", "-slim"),
        ("latest", "stable", "stable-slim"),
    ),
    # Tool images: the uv binaries (uv's Docker guide copies /uv and /uvx out of it), and
    # the Bun and Deno runtimes, whose official images are Debian-based.
    "uv": _Family(
        "ghcr.io/astral-sh/uv",
        2,
        ("0", *(f"0.{minor}" for minor in range(1, 20))),
        ("",),
        ("latest",),
        trim_variants=False,
    ),
    "bun": _Family(
        "oven/bun",
        2,
        ("1", *(f"1.{minor}" for minor in range(0, 10))),
        ("", "-slim", "-debian", "-alpine", "-distroless"),
        ("latest", "slim", "debian", "alpine", "distroless", "canary"),
    ),
    "deno": _Family(
        "denoland/deno",
        2,
        ("2", *(f"2.{minor}" for minor in range(0, 15))),
        ("",),
        ("latest", "debian", "alpine", "distroless", "ubuntu"),
        prefixes=("", "debian-", "alpine-", "distroless-", "ubuntu-"),
    ),
}
_DEBIAN_NAMES = {"11": "bullseye", "12": "bookworm", "13": "trixie"}


def _family_entries(family: _Family, images: Sequence[LocalImage]) -> Iterable[tuple[str, str]]:
    for version in family.versions:
        choice = pick_image(version_tuple(version), images, precision=family.precision)
        if choice is None:
            return
        names = [version]
        if family.repo == "debian":
            names.append(_DEBIAN_NAMES[version])
        # "python:3" means the newest 3.x; a major alone never pins a minor.
        if len(version_tuple(version)) < family.precision:
            choice = pick_image((), images, precision=family.precision)
            assert choice is not None
        for name in names:
            for prefix in family.prefixes:
                for variant in family.variants:
                    yield f"{family.repo}:{prefix}{name}{variant}", choice[0].ref
    newest = pick_image((), images, precision=family.precision)
    if newest is not None:
        yield family.repo, newest[0].ref
        for tag in family.floating:
            yield f"{family.repo}:{tag}", newest[0].ref


def override_mapping(images: Sequence[LocalImage]) -> dict[str, object]:
    """BASE_IMAGE_OVERRIDES for these local images: every official tag -> the honest choice.

    The result also lists, under RUNTIMES_KEY, what each chosen image runs, so the
    generator can log "python 3.12 requested; using ... (python 3.13.5), the nearest newer".
    """
    mapping: dict[str, object] = {}
    runtimes: dict[str, str] = {}
    for runtime, family in _FAMILIES.items():
        mine = [image for image in images if image.runtime == runtime]
        for name, ref in _family_entries(family, mine):
            mapping[name] = ref
        for image in mine:
            if image.ref in mapping.values():
                runtimes[image.ref] = f"{image.runtime} {image.version}"
    mapping[RUNTIMES_KEY] = dict(sorted(runtimes.items()))
    return mapping


_FROM_RE = re.compile(
    r"^(?P<head>\s*FROM\s+(?:--platform=\S+\s+)?)(?P<image>\S+)(?P<tail>.*)$", re.IGNORECASE
)
_STAGE_RE = re.compile(r"\bAS\s+(?P<stage>\S+)", re.IGNORECASE)
# `COPY --from=ghcr.io/astral-sh/uv:0.9.26 /uv /bin/`: the classic builder pulls an image
# named there just as one named by FROM (a stage name or index is no image).
_COPY_FROM_RE = re.compile(
    r"^(?P<head>\s*COPY\s+(?:--\S+\s+)*?--from=)(?P<image>\S+)(?P<tail>.*)$", re.IGNORECASE
)


def _copied_image(line: str, stages: set[str]) -> re.Match[str] | None:
    """The match of a COPY --from that names an image rather than an earlier stage."""
    match = _COPY_FROM_RE.match(line)
    if not match:
        return None
    image = match.group("image")
    if image.lower() in stages or image.isdigit() or "$" in image:
        return None
    return match


def _has_registry_host(image: str) -> bool:
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def apply_base_image_overrides(image: str, overrides: Mapping[str, str]) -> str:
    """Map ``image`` through ``overrides``: exact names first, then the longest ``prefix*`` rule.

    ``{"python:3.12-slim": "autodeploy-local/python:3.12-slim"}`` replaces one image;
    ``{"*": "mirror.example:5000/library/"}`` prepends a registry to every Docker Hub
    image (images already naming a registry host are left alone by ``*``);
    ``{"mcr.microsoft.com/*": "mirror.example:5000/mcr/"}`` swaps one registry prefix.
    A tag more precise than any key falls back to its release line: ``python:3.11.4-slim``
    takes the rule for ``python:3.11-slim``, ``node:20.11-alpine3.19`` ``node:20-alpine``'s.
    """
    for name in _less_specific(image):
        if name in overrides:
            return overrides[name]
    best: tuple[int, str] | None = None
    for key, value in overrides.items():
        if not key.endswith("*"):
            continue
        prefix = key[:-1]
        if prefix == "" and _has_registry_host(image):
            continue
        if image.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), value + image[len(prefix) :])
    return best[1] if best else image


def dockerfile_base_images(dockerfile: str) -> list[str]:
    """The images a Dockerfile's ``FROM`` and ``COPY --from`` name, earlier stages left out."""
    stages: set[str] = set()
    images: list[str] = []
    for line in dockerfile.splitlines():
        copied = _copied_image(line, stages)
        if copied and copied.group("image") not in images:
            images.append(copied.group("image"))
        match = _FROM_RE.match(line)
        if not match:
            continue
        image = match.group("image")
        if image.lower() not in stages and image not in images and "$" not in image:
            images.append(image)
        stage = _STAGE_RE.search(match.group("tail"))
        if stage:
            stages.add(stage.group("stage").lower())
    return images


def override_dockerfile_images(dockerfile: str, overrides: Mapping[str, str]) -> str:
    """Rewrite every ``FROM`` and ``COPY --from`` that names an image rather than a stage."""
    if not overrides:
        return dockerfile
    stages: set[str] = set()
    out: list[str] = []
    for line in dockerfile.splitlines():
        copied = _copied_image(line, stages)
        if copied:
            image = apply_base_image_overrides(copied.group("image"), overrides)
            line = copied.group("head") + image + copied.group("tail")
        match = _FROM_RE.match(line)
        if match:
            image = match.group("image")
            if image.lower() not in stages:
                line = (
                    match.group("head")
                    + apply_base_image_overrides(image, overrides)
                    + (match.group("tail"))
                )
            stage = _STAGE_RE.search(match.group("tail"))
            if stage:
                stages.add(stage.group("stage").lower())
        out.append(line)
    return "\n".join(out) + ("\n" if dockerfile.endswith("\n") else "")


_TAG_RE = re.compile(
    r"^(?P<repo>[^:@]+):(?P<prefix>[a-z]+-)?(?P<version>\d+(?:\.\d+)*)(?P<variant>.*)$"
)


def _less_specific(image: str) -> Iterator[str]:
    """``image``, then the same tag less precise: fewer version parts, then fewer variant words.

    ``python:3.11.3-slim-buster`` -> ``python:3.11-slim-buster`` -> ``python:3.11-slim`` ->
    ``python:3.11``: a distribution codename no rule names (buster) still finds the
    version's image. Alpine release numbers are dropped first (``alpine3.19`` -> ``alpine``).
    """
    yield image
    match = _TAG_RE.match(image)
    if not match:
        return
    repo, prefix = match.group("repo"), match.group("prefix") or ""
    parts = match.group("version").split(".")
    variant = re.sub(r"alpine\d+(?:\.\d+)*", "alpine", match.group("variant"))
    words = variant.split("-")  # "-slim-buster" -> ["", "slim", "buster"]
    strict = any(f.repo == repo and not f.trim_variants for f in _FAMILIES.values())
    for cut in range(len(words), len(words) - 1 if strict else 0, -1):
        trimmed = "-".join(words[:cut])
        for keep in range(len(parts), 0, -1):
            name = f"{repo}:{prefix}{'.'.join(parts[:keep])}{trimmed}"
            if name != image:
                yield name


def older_local_image(image: str, runtimes: Mapping[str, str]) -> tuple[str, str] | None:
    """The newest local image of the runtime ``image`` runs, older than it: where a build
    of a Dockerfile on the newest image, chosen because the repository named no version,
    may move (("autodeploy-local/python:3.11-slim", "python 3.11") for the 3.13 one)."""
    kind = runtimes.get(image, "").partition(" ")[0]
    if not kind:
        return None
    # Asked as a floating tag standing for ``image``: anything older than it runs.
    return older_stand_in(f"{kind}:latest", {f"{kind}:latest": image}, runtimes)


def older_stand_in(
    image: str, overrides: Mapping[str, str], runtimes: Mapping[str, str]
) -> tuple[str, str] | None:
    """The newest local image older than ``image`` asks, when its mapping runs a newer one.

    ``python:3.12-slim`` mapped to a Python 3.13 image -> ("autodeploy-local/python:3.11-slim",
    "python 3.11"). For a retry only: the nearest newer image is the first choice, and a
    build that failed there (pinned packages without wheels for the newer Python) may still
    build one minor older. A tag that floats (``python:slim``, ``python:3``, ``latest``)
    asked for the newest release when it was written, often an older one than today's: it
    may retry one older than its mapping runs. None when the mapping is not newer than an
    exact tag asks, or nothing older is there. ``runtimes`` is what each local image runs
    ("python 3.11").
    """
    current = runtimes.get(apply_base_image_overrides(image, overrides))
    if not current:
        return None
    match = _TAG_RE.match(image)
    repo = match.group("repo") if match else image.split("@", 1)[0].rsplit(":", 1)[0]
    kind = repo.rpartition("/")[2]
    family = _FAMILIES.get(kind)
    if family is None:
        return None
    runs_kind, _, runs_version = current.partition(" ")
    runs = version_tuple(runs_version)[: family.precision]
    if runs_kind != kind:
        return None
    wanted = version_tuple(match.group("version"))[: family.precision] if match else ()
    if len(wanted) < family.precision:
        wanted = runs  # a floating tag: anything older than what stands in for it
    elif runs <= wanted:
        return None  # an exact tag on its own release line, or on an older one
    older = [
        (version_tuple(version)[: family.precision], ref, text)
        for ref, text in runtimes.items()
        for name, _, version in [text.partition(" ")]
        if name == kind and version_tuple(version)[: family.precision] < wanted
    ]
    if not older:
        return None
    _, ref, text = max(older)
    return ref, text
