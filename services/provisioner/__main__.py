"""`python -m services.provisioner`: the provisioner stage (Terraform checked, reaper started)."""

from services.provisioner.handlers import on_start, routes
from shared.service import run_stage_service

run_stage_service("provisioner", routes, on_start=on_start)
