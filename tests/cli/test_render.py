"""The stage timeline and the other text the CLI shows people."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.cli.follow import Follower
from services.cli.render import ASCII, UNICODE, Marks, format_duration, timeline
from tests.cli.conftest import Run


def test_a_repair_attempt_moves_the_timeline_back_to_generate() -> None:
    # the verifier sends a failing deployment back to the generator for another attempt
    shown = timeline("generating", "generator", UNICODE, {"analyzing": 2, "generating": 5})

    assert shown.split(UNICODE.arrow) == [
        "analyze ✓ 2.0s ",
        " generate ▶ 5.0s ",
        " provision · ",
        " verify ·",
    ]


def test_a_failure_marks_its_stage_and_skips_the_rest() -> None:
    assert (
        timeline("failed", "verifier", ASCII) == "analyze + > generate + > provision + > verify x"
    )
    assert timeline("failed", None, ASCII) == "analyze - > generate - > provision - > verify -"


def test_a_status_this_cli_does_not_know_is_shown_pending() -> None:
    assert timeline("paused", "generator", ASCII).count(".") == 4


def test_terminals_that_cannot_show_unicode_get_ascii() -> None:
    assert Marks.for_encoding("ascii") is ASCII
    assert Marks.for_encoding("latin-1") is ASCII
    assert Marks.for_encoding("utf-8") is UNICODE
    assert Marks.for_encoding(None) is ASCII


def test_durations_read_naturally() -> None:
    assert [format_duration(s) for s in (0.04, 59.9, 61, 3725)] == [
        "0.0s",
        "59.9s",
        "1m01s",
        "1h02m",
    ]


def test_ctrl_c_while_following_says_the_job_carries_on(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: Follower, job_id: str, **kwargs: Any) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(Follower, "follow", interrupted)

    run = cli("submit", "https://git.example/app", "-d", "flask")

    assert run.code == 130
    job_id = run.out.split()[2].rstrip(":")
    assert f"stopped following job {job_id}; it carries on: `autodeploy status {job_id}`" in run.err
