"""Print the base-image override mapping for the local images present (for `make dev`).

    python scripts/base-image-overrides.py                 # JSON for the images on this engine
    python scripts/base-image-overrides.py --write PATH    # write it to PATH, print the setting
    python scripts/base-image-overrides.py --catalogue     # the mapping for the full set

Only images labelled by scripts/build-base-images.sh with what they run
(autodeploy.runtime, autodeploy.runtime-version) are used, so an official name is never
mapped onto an image whose tag claims a version it does not run. `--write` prints the
value BASE_IMAGE_OVERRIDES should take: the configured one when the environment or .env
sets it, else PATH (empty when no local image exists: the registry is then used).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import docker
import docker.errors

from shared.images import LocalImage, override_mapping
from shared.settings import Settings

# The namespace build-base-images.sh tags its images in.
LOCAL_PREFIX = "autodeploy-local/"

# What build-base-images.sh builds by default (deploy/base-images/overrides.json).
CATALOGUE = [
    LocalImage("autodeploy-local/python:3.11-slim", "python", "3.11"),
    LocalImage("autodeploy-local/python:3.13-slim", "python", "3.13"),
    LocalImage("autodeploy-local/node:20-slim", "node", "20"),
    LocalImage("autodeploy-local/node:22-slim", "node", "22"),
    LocalImage("autodeploy-local/node:24-slim", "node", "24"),
    LocalImage("autodeploy-local/nginx:1.22", "nginx", "1.22"),
    LocalImage("autodeploy-local/postgres:15", "postgres", "15"),
    LocalImage("autodeploy-local/redis:7", "redis", "7.0"),
    LocalImage("autodeploy-local/debian:bookworm", "debian", "12"),
    LocalImage("autodeploy-local/debian:trixie", "debian", "13"),
    # Pinned in build-base-images.sh (AUTODEPLOY_UV_VERSION and friends).
    LocalImage("autodeploy-local/uv:0.13.10", "uv", "0.13.10"),
    LocalImage("autodeploy-local/bun:1.4.5", "bun", "1.4.5"),
    LocalImage("autodeploy-local/deno:2.9.6", "deno", "2.9.6"),
]


def local_images() -> list[LocalImage]:
    """The labelled local base images on the Docker engine ([] when none answers)."""
    try:
        client = docker.from_env()
        found = client.images.list(filters={"label": "autodeploy.runtime"})
    except docker.errors.DockerException as exc:
        print(f"base-image-overrides: no Docker engine answers ({exc})", file=sys.stderr)
        return []
    images: list[LocalImage] = []
    for image in found:
        labels = image.labels or {}
        # An image built FROM a base image (an app, a benchmark's) inherits its labels, not
        # its role: only the names build-base-images.sh gives count. debian:bookworm and
        # debian:bookworm-slim are one image: the shortest tag names it.
        own = [tag for tag in image.tags if tag.startswith(LOCAL_PREFIX)]
        tags = sorted(own, key=lambda tag: (len(tag), tag))
        if tags:
            runtime = labels["autodeploy.runtime"]
            images.append(
                LocalImage(tags[0], runtime, labels.get("autodeploy.runtime-version", ""))
            )
    return sorted(images, key=lambda image: image.ref)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="PATH", help="write the mapping, print the setting")
    parser.add_argument("--catalogue", action="store_true", help="the full set, not the present")
    args = parser.parse_args()
    if args.write:
        configured = Settings().base_image_overrides
        if configured.strip():
            print(configured)
            return 0
    images = CATALOGUE if args.catalogue else local_images()
    text = json.dumps(override_mapping(images), indent=2) + "\n" if images else ""
    if not args.write:
        sys.stdout.write(text or "{}\n")
        return 0
    if not text:
        print(
            "base-image-overrides: no local base images (make images builds them)", file=sys.stderr
        )
        print("")
        return 0
    path = Path(args.write)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
