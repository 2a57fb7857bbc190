"""Fixtures for the LLM path: a scripted OpenAI-compatible server and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from shared.llm import LLMClient
from shared.settings import Settings
from tests.support.openai_stub import OpenAIStub

API_KEY = "sk-test-autodeploy-0123456789abcdef"
TIMEOUT_S = 0.5


class LogSink:
    """Collects the job-log lines the LLM path writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, message: str) -> None:
        self.lines.append(message)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    """A fresh scripted server that insists on the test API key."""
    server = OpenAIStub(api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def log() -> LogSink:
    return LogSink()


@pytest.fixture
async def make_client(stub: OpenAIStub) -> AsyncIterator[Callable[..., LLMClient]]:
    """Build clients the way a service does (from Settings), with test-sized timeouts."""
    made: list[LLMClient] = []

    def make(**overrides: Any) -> LLMClient:
        values: dict[str, Any] = {
            "openai_api_key": API_KEY,
            "openai_base_url": stub.base_url,
            "openai_model": "stub-model",
            "llm_timeout_s": TIMEOUT_S,
            "llm_max_retries": 2,
            "llm_max_calls": 6,
        }
        backoff = overrides.pop("backoff_base_s", 0.01)
        values.update(overrides)
        client = LLMClient.from_settings(Settings(_env_file=None, **values))
        assert client is not None
        client.backoff_base_s = backoff
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
