"""Fixtures for brief-to-site tests: a scripted OpenAI-compatible server and a job log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from shared.llm import LLMClient
from shared.settings import Settings
from tests.support.openai_stub import OpenAIStub

API_KEY = "sk-test-site-0123456789abcdef"


class LogSink:
    """Collects the job-log lines a step writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, message: str) -> None:
        self.lines.append(message)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub(api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def log() -> LogSink:
    return LogSink()


@pytest.fixture
async def make_client(stub: OpenAIStub) -> AsyncIterator[Callable[..., LLMClient]]:
    """Clients built the way a service builds them (from Settings), with short timeouts."""
    made: list[LLMClient] = []

    def make(**overrides: Any) -> LLMClient:
        values: dict[str, Any] = {
            "openai_api_key": API_KEY,
            "openai_base_url": stub.base_url,
            "openai_model": "stub-model",
            "llm_timeout_s": 2.0,
            "llm_max_retries": 1,
            "llm_max_calls": 6,
        }
        values.update(overrides)
        client = LLMClient.from_settings(Settings(_env_file=None, **values))
        assert client is not None
        client.backoff_base_s = 0.01
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
