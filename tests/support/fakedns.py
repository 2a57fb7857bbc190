"""A scripted resolver for tests: host names that answer what a test says, when it says.

``FakeDns`` replaces ``socket.getaddrinfo`` in this process (what the event loop's
resolver, and so the product's default resolver and httpx, call), so a test can make a
name resolve slowly, fail, or answer "public" once and "private" after (DNS rebinding)
without touching /etc/hosts. Names it was not told about resolve as usual. git runs in a
child process and never sees it: git reaching a scripted name at all shows it was handed
the address instead of resolving the name itself.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["FakeDns", "Slow"]


@dataclass(frozen=True)
class Slow:
    """An answer that comes after ``delay_s``."""

    delay_s: float
    addresses: tuple[str, ...]


Answer = Sequence[str] | Slow | OSError


@dataclass
class FakeDns:
    """Answers for scripted names: one answer per lookup, the last one repeating."""

    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeDns:
        """Put this resolver in front of ``socket.getaddrinfo`` for the test's duration."""
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name.lower().rstrip(".") not in self.scripts:
                return real(host, port, *args, **kwargs)
            return self._answer(name.lower().rstrip("."), int(port or 0))

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return self

    def script(self, name: str, *answers: Answer) -> None:
        """``name`` answers these, in order, one per lookup; the last one repeats."""
        self.scripts[name] = list(answers)

    def _answer(self, name: str, port: int) -> list[Any]:
        self.lookups.append(name)
        answers = self.scripts[name]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, OSError):
            raise answer
        if isinstance(answer, Slow):
            time.sleep(answer.delay_s)
            answer = answer.addresses
        return [_info(address, port) for address in answer]


def _info(address: str, port: int) -> tuple[Any, ...]:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
