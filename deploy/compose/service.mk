# Included by services/<name>/Makefile (which sets SERVICE, and METRICS_PORT for stages):
# run that one service in the compose stack or as a local process. See README.md here.
SHELL := /bin/bash
include $(dir $(lastword $(MAKEFILE_LIST)))compose.mk

# Copies of a stage to run (stages only; the gateway publishes a port and runs once).
SCALE ?=
SCALE_FLAG := $(if $(and $(SCALE),$(filter $(SERVICE),$(STAGES))),--scale $(SERVICE)=$(SCALE))
# Only the provisioner's image carries Terraform.
STAGE_TERRAFORM_HERE := $(if $(filter provisioner,$(SERVICE)),@$(STAGE_TERRAFORM))

.PHONY: help up down logs ps build dev

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

up: ## start this service in the compose stack (and what it waits on); SCALE=N for stages
	$(STAGE_TERRAFORM_HERE)
	$(COMPOSE) up -d --build $(SCALE_FLAG) $(SERVICE)

down: ## stop and remove this service's containers (the rest of the stack keeps running)
	$(COMPOSE) rm --stop --force $(SERVICE)

logs: ## follow this service's logs in the compose stack
	$(COMPOSE) logs --follow --tail=200 $(SERVICE)

ps: ## this service's containers and their health
	$(COMPOSE) ps $(SERVICE)

build: ## build this service's image (its target in the root Dockerfile)
	$(STAGE_TERRAFORM_HERE)
	$(COMPOSE) build $(SERVICE)

dev: ## run this service as a local process against local RabbitMQ/PostgreSQL (.env)
	cd $(STACK_ROOT) && $(if $(METRICS_PORT),METRICS_PORT=$(METRICS_PORT) ).venv/bin/python -m services.$(SERVICE)
