"""Pieces the LLM-using test suites share: a log sink and a client factory for the stub."""

from __future__ import annotations

from typing import Any

from shared.llm import LLMClient
from shared.settings import Settings
from tests.support.openai_stub import OpenAIStub

__all__ = ["ClientFactory", "LogSink"]


class LogSink:
    """Collects the job-log lines a step writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, message: str) -> None:
        self.lines.append(message)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class ClientFactory:
    """Builds clients the way a service does (from Settings), with test-sized timeouts."""

    def __init__(
        self, stub: OpenAIStub, *, api_key: str, timeout_s: float, max_retries: int
    ) -> None:
        self.defaults: dict[str, Any] = {
            "openai_api_key": api_key,
            "openai_base_url": stub.base_url,
            "openai_model": "stub-model",
            "llm_timeout_s": timeout_s,
            "llm_max_retries": max_retries,
            "llm_max_calls": 6,
        }
        self.made: list[LLMClient] = []

    def __call__(self, **overrides: Any) -> LLMClient:
        backoff = overrides.pop("backoff_base_s", 0.01)
        client = LLMClient.from_settings(Settings(_env_file=None, **{**self.defaults, **overrides}))
        assert client is not None
        client.backoff_base_s = backoff
        self.made.append(client)
        return client

    async def close(self) -> None:
        for client in self.made:
            await client.aclose()
