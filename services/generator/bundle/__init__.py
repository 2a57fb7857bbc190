"""The generator's bundle writer and guardrails: pure functions, no broker or database.

``generate_bundle`` turns an Analysis into files (Dockerfile, compose, Makefile,
DEPLOY.md, Terraform for the target); ``validate_bundle`` must come back empty before
any of them leaves the generator.
"""

from __future__ import annotations

from .context import UnsupportedStackError
from .generate import generate_bundle
from .images import IMAGES, apply_base_image_overrides
from .validate import ValidationReport, find_tool, validate_bundle, validate_bundle_report

__all__ = [
    "IMAGES",
    "UnsupportedStackError",
    "ValidationReport",
    "apply_base_image_overrides",
    "find_tool",
    "generate_bundle",
    "validate_bundle",
    "validate_bundle_report",
]
