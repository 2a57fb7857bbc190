"""`python -m services.provisioner`: run the provisioner stage."""

from services.provisioner.handlers import routes
from shared.service import run_stage_service

run_stage_service("provisioner", routes)
