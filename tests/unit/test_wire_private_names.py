"""The library names `shared.wire` relies on beyond aio-pika's and aiormq's public API.

`shared.wire` (AMQP_COALESCE_WRITES) overrides or reads a few names the libraries do not
document. If a release renames one, these tests fail naming it, instead of every service
failing at ``connect()``; the fix is then to adapt `shared.wire` or to run with
AMQP_COALESCE_WRITES=false until it is adapted.
"""

from __future__ import annotations

import inspect

import aio_pika
import aiormq
import pytest
from aiormq.connection import TransportFactory
from yarl import URL

from shared import wire


def _missing(what: str) -> str:
    return (
        f"{what} is gone from the installed library, and shared/wire.py relies on it: adapt "
        "shared/wire.py to the new release, or set AMQP_COALESCE_WRITES=false meanwhile"
    )


def test_aio_pika_robust_connection_still_has_on_connected() -> None:
    hook = getattr(aio_pika.RobustConnection, "_on_connected", None)
    assert inspect.iscoroutinefunction(hook), _missing("aio_pika.RobustConnection._on_connected")


async def test_aio_pika_robust_connection_still_keeps_its_kwargs() -> None:
    connection = aio_pika.RobustConnection(URL("amqp://127.0.0.1:1/"))
    try:
        assert isinstance(getattr(connection, "kwargs", None), dict), _missing(
            "aio_pika.RobustConnection.kwargs (the connection parameters handed to aiormq)"
        )
    finally:
        await connection.close()  # never opened; keeps its finalizer quiet


async def test_aiormq_still_has_a_frame_buffer_size_and_a_write_queue() -> None:
    # Inside the running loop, as a connection is always made (aiormq binds it there).
    assert isinstance(getattr(aiormq.Connection, "FRAME_BUFFER_SIZE", None), int), _missing(
        "aiormq.Connection.FRAME_BUFFER_SIZE"
    )
    connection = aiormq.Connection(URL("amqp://127.0.0.1:1/"))
    queue = getattr(connection, "write_queue", None)
    assert callable(getattr(queue, "qsize", None)), _missing("aiormq.Connection.write_queue")


def test_aiormq_still_takes_a_transport_factory() -> None:
    assert "transport_factory" in inspect.signature(aiormq.Connection).parameters, _missing(
        "aiormq.Connection's transport_factory parameter"
    )
    assert inspect.iscoroutinefunction(TransportFactory.create), _missing(
        "aiormq.connection.TransportFactory.create"
    )


@pytest.mark.parametrize(
    ("url", "coalesced"),
    [("amqp://guest:guest@127.0.0.1:1/", True), ("amqps://guest:guest@127.0.0.1:1/", False)],
)
async def test_only_plain_amqp_goes_through_the_coalescing_connection(
    monkeypatch: pytest.MonkeyPatch, url: str, coalesced: bool
) -> None:
    # TLS is aiormq's own path: amqps:// URLs get aio-pika's connection as shipped.
    seen: dict[str, object] = {}

    async def connect_robust(url: str, **kwargs: object) -> object:
        seen.update(kwargs)
        return object()

    monkeypatch.setattr(aio_pika, "connect_robust", connect_robust)
    await wire.connect_robust(url)
    assert (seen.get("connection_class") is wire.CoalescingRobustConnection) is coalesced


@pytest.mark.parametrize("on", [True, False])
def test_gateway_fast_path_follows_its_setting(on: bool) -> None:
    # GATEWAY_FAST_PATH=false: POST /request goes through FastAPI's route like any other.
    from services.gateway.app import create_app
    from services.gateway.fastpath import SubmitFastPath
    from shared.settings import Settings

    app = create_app(Settings(gateway_fast_path=on))
    assert any(m.cls is SubmitFastPath for m in app.user_middleware) is on
