"""Every corpus repository is understood the way a person reading it would."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analyzer.detect import analyze_repository
from shared.analysis import Analysis

from .fixtures import ANY, CORPUS, Fixture, build


@pytest.fixture(params=CORPUS, ids=lambda f: f.name)
def analysed(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Fixture, Analysis]:
    fixture: Fixture = request.param
    root = build(fixture, tmp_path)
    return fixture, analyze_repository(root, description=fixture.description)


def test_verdict_and_stack(analysed: tuple[Fixture, Analysis]) -> None:
    fx, a = analysed
    assert a.verdict == fx.verdict, a.verdict_reasons
    assert a.language == fx.language
    assert a.framework == fx.framework
    assert a.app_root == fx.app_root


def test_port(analysed: tuple[Fixture, Analysis]) -> None:
    fx, a = analysed
    assert (a.port.value if a.port else None) == fx.port
    if a.port is not None:
        assert a.port.evidence, "a port without evidence"


def test_bind_address(analysed: tuple[Fixture, Analysis]) -> None:
    fx, a = analysed
    if fx.bind != ANY:
        assert a.bind_address == fx.bind
    assert a.binds_loopback == (a.bind_address == "127.0.0.1")


def test_start_command(analysed: tuple[Fixture, Analysis]) -> None:
    fx, a = analysed
    if fx.start == ANY:
        return
    if fx.start is None:
        assert a.start_command is None
    else:
        assert a.start_command is not None and fx.start in a.start_command
        assert "{port}" not in a.start_command


def test_services_and_health(analysed: tuple[Fixture, Analysis]) -> None:
    fx, a = analysed
    assert {s.kind for s in a.services} >= set(fx.services)
    if fx.health is not None:
        assert a.health_path == fx.health


def test_reasons_are_actionable(analysed: tuple[Fixture, Analysis]) -> None:
    fx, a = analysed
    assert a.verdict_reasons
    if fx.verdict == "not-a-service":
        text = " ".join(a.verdict_reasons)
        assert fx.reason in text
        if fx.name != "empty":
            assert "autodeploy deploys HTTP services" in text
    else:
        assert a.reasons
        assert any(r.startswith(f"port {fx.port}") for r in a.reasons)


def test_evidence_points_at_real_files(analysed: tuple[Fixture, Analysis]) -> None:
    _, a = analysed
    files = {p for p in a.tree if not p.endswith("/")}
    evidence = [e for c in a.candidates for e in c.evidence]
    evidence += [e for v in a.env_vars for e in v.evidence]
    evidence += [e for s in a.services for e in s.evidence]
    for ev in evidence:
        assert ev.file == "description" or ev.file in files, ev


@pytest.mark.parametrize("fixture", CORPUS, ids=lambda f: f.name)
def test_with_cloud_credentials_only_targets_that_apply_are_chosen(
    fixture: Fixture, tmp_path: Path
) -> None:
    # Issue 23: with credentials the analyzer picks only aws-ec2 or aws-serverless, both
    # applied end to end (tests/e2e/test_cloud_target.py, test_cloud_containers.py); never
    # kubernetes, which needs a cluster nobody asked for.
    from shared.analysis import AUTO_CLOUD_TARGETS

    analysis = analyze_repository(
        build(fixture, tmp_path), description="deploy it", cloud_credentials=True
    )
    if analysis.verdict == "http-service":
        assert analysis.target in AUTO_CLOUD_TARGETS, analysis.target_reasons
