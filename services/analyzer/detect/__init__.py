"""Deterministic repository understanding for the analyzer: what the app is and how it runs."""

from __future__ import annotations

from .analyze import analyze_repository, choose_target
from .description import parse_description

__all__ = ["analyze_repository", "choose_target", "parse_description"]
