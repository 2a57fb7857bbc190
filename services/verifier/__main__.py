"""`python -m services.verifier`: run the verifier stage (and dead-letter bookkeeping)."""

from services.verifier.handlers import on_start, routes
from shared.service import run_stage_service

run_stage_service("verifier", routes, on_start=on_start)
