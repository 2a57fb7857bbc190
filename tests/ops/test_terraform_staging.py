"""Issue 23 point 3: `make up` gives the provisioner image the host's terraform only when it
is the pinned one (scripts/stage-terraform.sh, run before every build)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.ops.conftest import stage_terraform, terraform_pin

PIN = terraform_pin()


def _terraform(directory: Path, version: str) -> Path:
    """A stand-in terraform that reports `version` for linux_amd64."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "terraform"
    path.write_text(
        f'#!/bin/sh\necho \'{{"terraform_version": "{version}", "platform": "linux_amd64"}}\'\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _stage(tmp_path: Path, terraform_bin: str) -> tuple[str, Path]:
    dest = tmp_path / "context"
    dest.mkdir()
    # Staged by an earlier build from a terraform that has since changed.
    (dest / "terraform").write_text("stale")
    proc = stage_terraform(dest, env={**os.environ, "TERRAFORM_BIN": terraform_bin})
    assert proc.returncode == 0, "the image must still build without terraform"
    return proc.stderr, dest / "terraform"


def test_a_different_version_is_refused_by_name(tmp_path) -> None:
    said, staged = _stage(tmp_path, str(_terraform(tmp_path / "bin", "1.5.7")))
    assert "refusing" in said and "it is Terraform 1.5.7" in said, said
    assert f"the pin (deploy/terraform/pin.env) is {PIN['TERRAFORM_VERSION']}" in said
    assert not staged.exists()


def test_the_pinned_version_with_other_bytes_is_refused(tmp_path) -> None:
    # The version string alone is not enough where a sha256 is pinned for the platform.
    fake = _terraform(tmp_path / "bin", PIN["TERRAFORM_VERSION"])
    said, staged = _stage(tmp_path, str(fake))
    assert "refusing" in said and f"not the pinned {PIN['TERRAFORM_SHA256_linux_amd64']}" in said
    assert not staged.exists()


def test_no_terraform_stages_nothing_and_says_so(tmp_path) -> None:
    said, staged = _stage(tmp_path, str(tmp_path / "nowhere" / "terraform"))
    assert "on this machine" in said and "built without terraform" in said, said
    assert not staged.exists()
