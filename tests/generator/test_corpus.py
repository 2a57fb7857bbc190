"""The analyzer's fixture corpus, end to end through the generator: every service validates.

Imports the corpus directly: if ``tests/analyzer/fixtures.py`` or the analyzer goes away,
this module fails to import and the run errors loudly instead of skipping.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.detect import analyze_repository
from services.generator.bundle import generate_bundle, validate_bundle
from tests.analyzer.fixtures import CORPUS, Fixture, build

SERVICES = [f for f in CORPUS if f.verdict == "http-service"]


def test_corpus_is_not_empty() -> None:
    assert len(SERVICES) >= 20


@pytest.mark.parametrize("fixture", SERVICES, ids=lambda f: f.name)
def test_corpus_repository_bundles_validate(fixture: Fixture, tmp_path: Path) -> None:
    root = build(fixture, tmp_path)
    analysis = analyze_repository(root, description=fixture.description)
    for target in ("local", "aws-ec2", "aws-serverless", "kubernetes"):
        bundle = generate_bundle(analysis.model_copy(update={"target": target}), job_id="corpus-1")
        # Files the repository already has are never overwritten by the bundle, but for
        # GNUmakefile, which must be ours so that `make up` is.
        assert not set(bundle) & set(analysis.tree) - {"GNUmakefile"}, target
        if target != "local":
            # The Docker/compose half is identical for every target; lint it once.
            bundle = {k: v for k, v in bundle.items() if k.startswith("terraform/")}
        assert validate_bundle(bundle) == [], target
