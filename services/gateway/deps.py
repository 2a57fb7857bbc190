"""What the gateway's routes take, as typed dependencies read from ``app.state``.

``create_app`` puts the settings on ``app.state``; the lifespan adds the connections (the
pool, the broker, the outbox relay and the job-insert batcher) once they are open, and
nothing else holds them. A route names what it needs (``pool: PoolDep``) instead of
reaching into ``request.app.state``, so its signature says what it touches.

Every dependency here reads only the request: the submit fast path
(`services.gateway.fastpath`) supplies them to the route's function the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from shared import db
from shared.batch import Batcher
from shared.bus import Broker
from shared.outbox import OutboxRelay
from shared.settings import Settings

__all__ = [
    "BrokerDep",
    "JobInserts",
    "JobInsertsDep",
    "PoolDep",
    "RelayDep",
    "SettingsDep",
    "get_broker",
    "get_inserts",
    "get_pool",
    "get_relay",
    "get_settings",
]

# New repository jobs, grouped into one INSERT round trip (the gateway's lifespan builds it).
JobInserts = Batcher[db.NewJob, db.OutboxRow]


def _opened(connection: HTTPConnection, name: str, what: str) -> Any:
    value = getattr(connection.app.state, name, None)
    if value is None:
        raise HTTPException(
            status_code=503,
            detail=f"the {what} is not connected yet (app.state.{name} is unset); try again",
        )
    return value


def get_settings(connection: HTTPConnection) -> Settings:
    """The settings the app was built with."""
    settings: Settings = connection.app.state.settings
    return settings


def get_pool(connection: HTTPConnection) -> asyncpg.Pool:
    """The PostgreSQL pool (503 before the lifespan opened it)."""
    return _opened(connection, "pool", "job store")


def get_broker(connection: HTTPConnection) -> Broker:
    """The RabbitMQ connection the outbox relay publishes on."""
    broker: Broker = _opened(connection, "broker", "broker")
    return broker


def get_relay(connection: HTTPConnection) -> OutboxRelay:
    """The outbox relay: committed events are handed to it to publish."""
    relay: OutboxRelay = _opened(connection, "relay", "outbox relay")
    return relay


def get_inserts(connection: HTTPConnection) -> JobInserts:
    """The batcher that stores new repository jobs together (group commit)."""
    inserts: JobInserts = _opened(connection, "inserts", "job store")
    return inserts


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
RelayDep = Annotated[OutboxRelay, Depends(get_relay)]
JobInsertsDep = Annotated[JobInserts, Depends(get_inserts)]
