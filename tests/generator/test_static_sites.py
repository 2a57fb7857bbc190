"""Site generators' sites are built by their own tool before nginx serves the output.

The repositories keep sources, not the built folder (`public/`, `_site/`, `site/` are
ignored), so copying the output folder alone failed the build (`COPY failed: _site`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.detect import analyze_repository
from services.generator.bundle import generate_bundle, validate_bundle
from tests.analyzer.fixtures import CORPUS, build

_BY_NAME = {f.name: f for f in CORPUS}


def _dockerfile(name: str, tmp_path: Path) -> tuple[str, dict[str, str]]:
    fixture = _BY_NAME[name]
    analysis = analyze_repository(build(fixture, tmp_path), description=fixture.description)
    bundle = generate_bundle(analysis, job_id="static-1")
    return bundle["Dockerfile"], bundle


@pytest.mark.parametrize(
    ("name", "builder", "build", "output"),
    [
        ("hugo_config_toml", "FROM debian:12-slim AS build", "RUN hugo --minify", "/site/public/"),
        (
            "jekyll_pages_site",
            "FROM ruby:3.3-slim AS build",
            "RUN JEKYLL_ENV=production bundle exec jekyll build",
            "/site/_site/",
        ),
    ],
)
def test_generator_site_is_built_then_served(
    name: str, builder: str, build: str, output: str, tmp_path: Path
) -> None:
    dockerfile, bundle = _dockerfile(name, tmp_path)
    assert builder in dockerfile
    assert build in dockerfile
    # nginx serves what the build wrote, not a folder the repository does not have.
    assert f"COPY --from=build --chown=nginx:nginx {output} /usr/share/nginx/html/" in dockerfile
    assert dockerfile.index(build) < dockerfile.index("FROM nginx")
    assert validate_bundle(bundle) == []


def test_hugo_comes_from_the_distribution(tmp_path: Path) -> None:
    # No Go toolchain or module proxy needed: Debian's hugo package builds the site.
    dockerfile, _ = _dockerfile("hugo_config_toml", tmp_path)
    assert "apt-get install -y --no-install-recommends hugo" in dockerfile
    assert "go install" not in dockerfile


def test_jekyll_installs_the_gemfile_before_the_sources(tmp_path: Path) -> None:
    dockerfile, _ = _dockerfile("jekyll_pages_site", tmp_path)
    assert dockerfile.index("COPY Gemfile* ./") < dockerfile.index("RUN bundle install")
    assert dockerfile.index("RUN bundle install") < dockerfile.index("COPY . .")


def test_plain_static_site_is_copied_as_is(tmp_path: Path) -> None:
    # Plain files have nothing to build: no build stage.
    plain = next(f for f in CORPUS if f.framework == "static" and f.app_root == ".")
    analysis = analyze_repository(build(plain, tmp_path), description=plain.description)
    dockerfile = generate_bundle(analysis, job_id="static-2")["Dockerfile"]
    assert "AS build" not in dockerfile
