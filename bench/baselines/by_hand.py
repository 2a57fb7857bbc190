"""The by-hand baseline of the deploy rows: docker build, docker run, first 200."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from services.provisioner.handlers import build_spec

__all__ = ["build_run_first_200"]


def build_run_first_200(
    src: Path, files: dict[str, str], tag: str, expect: str = ""
) -> tuple[float, str]:
    """Seconds from `docker build` of the bundle in ``src`` to the first 200 (with
    ``expect`` in its body) from a `docker run` of it, and the container's id.

    The image is built as a person would build it, with a tag and no label (on the classic
    builder a label is one more step that runs a container); the container is labelled
    ``autodeploy.bench=1``. The caller removes the container, and the image by its tag.
    """
    context, dockerfile, port = build_spec(files, 8080)
    started = time.perf_counter()
    subprocess.run(
        [
            *("docker", "build", "-q", "-t", tag),
            *("-f", str(src / context / dockerfile), str(src / context)),
        ],
        check=True,
        capture_output=True,
    )
    cid = subprocess.run(
        ["docker", "run", "-d", "-p", f"127.0.0.1::{port}", "--label", "autodeploy.bench=1", tag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    host_port = (
        subprocess.run(
            ["docker", "port", cid, f"{port}/tcp"], check=True, capture_output=True, text=True
        )
        .stdout.split(":")[-1]
        .strip()
    )
    while True:
        try:
            r = httpx.get(f"http://127.0.0.1:{host_port}/", timeout=2)
            if r.status_code == 200 and expect in r.text:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    return time.perf_counter() - started, cid
