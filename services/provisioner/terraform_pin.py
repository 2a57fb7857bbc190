"""Start-up check: is the terraform this provisioner will run the one the project pins?

The compose image carries the host's terraform only when it matched
deploy/terraform/pin.env (scripts/stage-terraform.sh), and `make dev` runs whatever is on
PATH, so an operator learns at start-up, in one log line, what cloud jobs will run: the
pinned version, another one, or none (cloud jobs then fail with "terraform not found").
It runs once, before the first delivery, never per job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from services.provisioner.terraform import TerraformError, find_terraform
from shared.settings import Settings

__all__ = ["PIN_FILE", "check_terraform", "on_start", "pinned_version", "reported_version"]

logger = logging.getLogger(__name__)

PIN_FILE = Path(__file__).resolve().parents[2] / "deploy" / "terraform" / "pin.env"
# `terraform version` answers in well under a second; a binary that hangs must not hold
# the stage's start-up.
VERSION_TIMEOUT_S = 10.0


def pinned_version(pin_file: Path = PIN_FILE) -> str | None:
    """TERRAFORM_VERSION from the pin file, or None when the file is absent."""
    try:
        text = pin_file.read_text()
    except FileNotFoundError:
        return None
    match = re.search(r"^TERRAFORM_VERSION=(\S+)", text, re.MULTILINE)
    return match.group(1) if match else None


def reported_version(binary: str) -> str | None:
    """The version `binary version -json` reports, or None when it cannot say."""
    try:
        proc = subprocess.run(
            [binary, "version", "-json"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            # Without it terraform asks HashiCorp whether a newer release exists.
            env={**os.environ, "CHECKPOINT_DISABLE": "1"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        info: Any = json.loads(proc.stdout)
    except ValueError:
        # Releases before 0.13 answer `Terraform v0.12.31` and no JSON.
        match = re.search(r"Terraform v(\S+)", proc.stdout)
        return match.group(1) if match else None
    version = info.get("terraform_version") if isinstance(info, dict) else None
    return version if isinstance(version, str) else None


def check_terraform(setting: str, pin_file: Path = PIN_FILE) -> None:
    """Log, once, whether TERRAFORM_BIN is the pinned Terraform, another one, or missing."""
    pinned = pinned_version(pin_file)
    try:
        binary = find_terraform(setting)
    except TerraformError:
        logger.warning(
            "terraform not found (TERRAFORM_BIN=%r): cloud targets will fail at their first "
            "terraform step; the provisioner image carries Terraform %s only when the machine "
            "that built it had that version (scripts/stage-terraform.sh)",
            setting,
            pinned or "(no pin file)",
        )
        return
    version = reported_version(binary)
    if pinned is None:
        logger.info("terraform %s at %s (no pin at %s to check)", version, binary, pin_file)
    elif version == pinned:
        logger.info("terraform %s at %s, the pinned version", version, binary)
    else:
        logger.warning(
            "terraform at %s is %s, not the pinned %s (deploy/terraform/pin.env): cloud jobs "
            "will run it anyway; install %s or change the pin",
            binary,
            version or "of unknown version",
            pinned,
            pinned,
        )


async def on_start(settings: Settings, *_: object) -> None:
    """The provisioner's start-up hook: the check, off the event loop."""
    await asyncio.to_thread(check_terraform, settings.terraform_bin)
