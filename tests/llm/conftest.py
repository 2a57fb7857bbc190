"""Fixtures for the LLM path: a scripted OpenAI-compatible server and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.llm_fixtures import ClientFactory, LogSink
from tests.support.openai_stub import OpenAIStub

API_KEY = "sk-test-autodeploy-0123456789abcdef"
TIMEOUT_S = 0.5


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
async def make_client(stub: OpenAIStub) -> AsyncIterator[ClientFactory]:
    """Clients built the way a service builds them (from Settings), with short timeouts."""
    factory = ClientFactory(stub, api_key=API_KEY, timeout_s=TIMEOUT_S, max_retries=2)
    yield factory
    await factory.close()
