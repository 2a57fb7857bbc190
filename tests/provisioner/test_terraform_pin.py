"""Issue 23 point 3: the provisioner says at start-up which Terraform its cloud jobs will run."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from services.provisioner.terraform_pin import PIN_FILE, check_terraform, pinned_version

PINNED = pinned_version()


def _terraform(directory: Path, answer: str) -> Path:
    """A stand-in terraform whose `version -json` prints `answer`."""
    path = directory / "terraform"
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{answer}\nEOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _json(version: str) -> str:
    return f'{{"terraform_version": "{version}", "platform": "linux_amd64"}}'


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_the_pin_file_names_a_version() -> None:
    assert PINNED and PINNED[0].isdigit(), PIN_FILE.read_text()


def test_the_pinned_terraform_is_logged_as_such(tmp_path, caplog) -> None:
    binary = _terraform(tmp_path, _json(str(PINNED)))
    with caplog.at_level(logging.INFO, logger="services.provisioner.terraform_pin"):
        check_terraform(str(binary))
    assert _lines(caplog) == [
        (logging.INFO, f"terraform {PINNED} at {binary}, the pinned version")
    ]


def test_a_missing_terraform_is_one_warning(tmp_path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="services.provisioner.terraform_pin"):
        check_terraform(str(tmp_path / "nowhere" / "terraform"))
    [(level, message)] = _lines(caplog)
    assert level == logging.WARNING
    assert message.startswith("terraform not found (TERRAFORM_BIN=")
    assert f"carries Terraform {PINNED}" in message


@pytest.mark.parametrize(
    ("answer", "named"),
    [(_json("1.5.7"), "1.5.7"), ("Terraform v0.12.31\n", "0.12.31"), ("", "of unknown version")],
)
def test_another_version_is_a_warning_naming_both(tmp_path, caplog, answer, named) -> None:
    binary = _terraform(tmp_path, answer)
    with caplog.at_level(logging.INFO, logger="services.provisioner.terraform_pin"):
        check_terraform(str(binary))
    [(level, message)] = _lines(caplog)
    assert level == logging.WARNING
    assert f"terraform at {binary} is {named}, not the pinned {PINNED}" in message


@pytest.mark.integration
def test_the_provisioner_process_says_so_before_it_consumes(make_stack, tmp_path) -> None:
    binary = _terraform(tmp_path, _json("1.5.7"))
    stack = make_stack(("provisioner",), TERRAFORM_BIN=str(binary))
    log = stack.log_path("provisioner").read_text()
    warning = log.index(f"terraform at {binary} is 1.5.7, not the pinned {PINNED}")
    assert warning < log.index('"ready": true')
