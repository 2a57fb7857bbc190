"""`python -m services.generator`: run the generator stage."""

from services.generator.handlers import routes
from shared.service import run_stage_service

run_stage_service("generator", routes)
