"""`python -m services.provisioner`: run the provisioner stage."""

from services.provisioner.handlers import routes
from services.provisioner.terraform_pin import on_start
from shared.service import run_stage_service

run_stage_service("provisioner", routes, on_start=on_start)
