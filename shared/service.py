"""Process scaffolding for a stage service: settings, pool, broker, relay, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable

import asyncpg
import uvloop

from shared import db
from shared.bus import Broker
from shared.logs import configure_logging
from shared.metrics import initialise_llm_metrics, serve_metrics
from shared.outbox import OutboxRelay
from shared.security import register_secret
from shared.settings import Settings
from shared.stage import Route, StageRunner

__all__ = ["register_settings_secrets", "run_stage_service", "tune_garbage_collector"]

logger = logging.getLogger(__name__)

# CPython collects its youngest generation every 700 net container allocations, and a
# request or a delivery makes hundreds: a busy gateway worker ran ~180 young and ~1.5
# full collections a second, and every full one walked the ~85,000 objects left by
# startup (modules, FastAPI's and pydantic's schemas): 11-14% of its time in all. Frozen,
# those are never walked again; a higher first threshold collects less often.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_garbage_collector() -> None:
    """Freeze what startup made and collect less often (call once the service is up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def register_settings_secrets(settings: Settings) -> None:
    """Make every configured secret redactable in this process's logs."""
    for value in (
        settings.github_token,
        settings.token_encryption_key,
        settings.amqp_url,
        settings.openai_api_key,
        settings.aws_access_key_id,
        settings.aws_secret_access_key,
        settings.task_secret,
    ):
        if value is not None:
            register_secret(value.get_secret_value())
    for token in settings.api_token_set:
        register_secret(token)
    # The password part of the broker URL, if any.
    amqp = settings.amqp_url.get_secret_value()
    if "@" in amqp and ":" in amqp.split("@")[0].split("//")[-1]:
        register_secret(amqp.split("@")[0].split("//")[-1].split(":", 1)[1])


OnStart = Callable[[Settings, asyncpg.Pool, Broker, OutboxRelay], Awaitable[None]]


def run_stage_service(
    stage: str, routes: Callable[[Settings], list[Route]], *, on_start: OnStart | None = None
) -> None:
    """Entry point of `python -m services.<stage>`: run until SIGTERM/SIGINT."""
    settings = Settings()
    configure_logging(stage, settings.log_level)
    register_settings_secrets(settings)
    # uvloop: the stages spend their time on small socket reads and writes (AMQP and
    # PostgreSQL), which it does with far less CPU than the default loop.
    uvloop.run(_serve(stage, routes(settings), settings, on_start))


async def _serve(
    stage: str, routes: list[Route], settings: Settings, on_start: OnStart | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # One connection per message in flight, plus the relay and the dead-letter bookkeeping.
    pool = await db.create_pool(settings.database_url, max_size=settings.concurrency(stage) + 3)
    broker = Broker(
        settings.amqp_url.get_secret_value(),
        delivery_limit=settings.delivery_limit,
        coalesce_writes=settings.amqp_coalesce_writes,
    )
    await broker.connect()
    relay = OutboxRelay(pool, broker)
    relay.start()
    runner = StageRunner(stage, routes, settings=settings, pool=pool, broker=broker, relay=relay)
    initialise_llm_metrics()
    serve_metrics(settings.metrics_port)
    await runner.start()
    if on_start is not None:
        await on_start(settings, pool, broker, relay)
    tune_garbage_collector()
    logger.info(
        "%s consuming with prefetch %d", stage, settings.concurrency(stage), extra={"ready": True}
    )
    await stop.wait()
    logger.info("%s stopping", stage)
    await broker.close()
    await relay.stop()
    await runner.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(pool.close(), timeout=5)
