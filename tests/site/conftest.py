"""Fixtures for brief-to-site tests: a scripted OpenAI-compatible server and a job log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.llm_fixtures import ClientFactory, LogSink
from tests.support.openai_stub import OpenAIStub

API_KEY = "sk-test-site-0123456789abcdef"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub(api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def log() -> LogSink:
    return LogSink()


@pytest.fixture
async def make_client(stub: OpenAIStub) -> AsyncIterator[ClientFactory]:
    """Clients built the way a service builds them (from Settings), with short timeouts."""
    factory = ClientFactory(stub, api_key=API_KEY, timeout_s=2.0, max_retries=1)
    yield factory
    await factory.close()
