"""Gateway process: settings, logging, and uvicorn serving the app."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from services.gateway.app import create_app
from shared.logs import configure_logging
from shared.service import register_settings_secrets, tune_garbage_collector
from shared.settings import Settings

__all__ = ["app_factory", "main"]


def app_factory() -> FastAPI:
    """Build the app in each uvicorn worker process."""
    settings = Settings()
    configure_logging("gateway", settings.log_level)
    register_settings_secrets(settings)
    app = create_app(settings)
    tune_garbage_collector()  # after the app and its schemas are built
    return app


def main() -> None:
    """Serve the gateway (GATEWAY_HOST:GATEWAY_PORT, GATEWAY_WORKERS processes)."""
    settings = Settings()
    uvicorn.run(
        "services.gateway.main:app_factory",
        factory=True,
        host=settings.gateway_host,
        port=settings.gateway_port,
        workers=settings.gateway_workers,
        log_config=None,
        access_log=False,
        # An open live-log stream must not hold a Ctrl-C in `make dev` for long.
        timeout_graceful_shutdown=5,
    )
