"""The result type of every bundle check: one refused thing, where it is, what to do."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Violation"]


@dataclass(frozen=True, slots=True)
class Violation:
    """A problem that stops the bundle from leaving the generator."""

    rule: str
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"[{self.rule}] {where}: {self.message}"
