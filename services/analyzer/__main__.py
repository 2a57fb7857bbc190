"""`python -m services.analyzer`: run the analyzer stage."""

from services.analyzer.handlers import routes
from shared.service import run_stage_service

run_stage_service("analyzer", routes)
