"""Errors that cross a stage boundary: raised in one place, caught in another."""

from __future__ import annotations

__all__ = ["DeployError"]


class DeployError(RuntimeError):
    """Applying a job to the local Docker engine failed; the message says what and why."""
