"""A source-only change rebuilds the fewest layers: the source is the image's last step.

With Docker's classic builder (what the provisioner's API build runs), every instruction
after a changed `COPY . .` runs again, each as a container of its own (USER, EXPOSE,
HEALTHCHECK, CMD: 0.2-0.4 s apiece). Settings placed before the source stay cached.
"""

from __future__ import annotations

import pytest

from services.generator.bundle import generate_bundle
from tests.generator.stacks import STACKS

_PYTHON = sorted(k for k, a in STACKS.items() if a.docker is None and k.startswith("python-"))


def _final_stage(dockerfile: str) -> list[str]:
    lines = [ln.strip() for ln in dockerfile.replace("\\\n", " ").splitlines()]
    instructions = [ln for ln in lines if ln and not ln.startswith("#")]
    last_from = max(i for i, ln in enumerate(instructions) if ln.upper().startswith("FROM "))
    return instructions[last_from:]


@pytest.mark.parametrize("stack", _PYTHON)
def test_the_source_copy_is_the_last_step_of_the_image(stack: str) -> None:
    bundle = generate_bundle(STACKS[stack], job_id="job-42")
    name = next(k for k in bundle if k.split("/")[-1] in ("Dockerfile", "Dockerfile.autodeploy"))
    final = _final_stage(bundle[name])
    source = [i for i, ln in enumerate(final) if ln.startswith("COPY") and ln.endswith(". .")]
    assert source, final
    assert source[-1] == len(final) - 1, final[source[-1] :]
    # The settings the image needs are still there, before the source.
    assert any(ln.startswith("CMD") for ln in final) and any(ln.startswith("USER") for ln in final)


_GENERATED_IGNORE = sorted(
    k
    for k, a in STACKS.items()
    if a.docker is None and ".dockerignore" in generate_bundle(a, job_id="job-42")
)


@pytest.mark.parametrize("stack", _GENERATED_IGNORE)
def test_no_file_naming_the_job_reaches_the_image(stack: str) -> None:
    # Two revisions of one commit share an image only if the build context they copy is
    # the same: a generated file that names its job (the Dockerfile's header, the
    # Makefile, compose.yaml, DEPLOY.md) and is not ignored makes `COPY . .` differ on
    # every job, so even an unchanged commit rebuilds (and a static site serves it).
    from docker.utils.build import PatternMatcher

    bundle = generate_bundle(STACKS[stack], job_id="job-42")
    patterns = [
        ln.strip()
        for ln in bundle[".dockerignore"].splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    matcher = PatternMatcher(patterns)
    copied = [
        path for path, text in bundle.items() if "job-42" in text and not matcher.matches(path)
    ]
    assert copied == [], f"copied into the image and naming the job: {copied}"
