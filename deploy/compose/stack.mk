# Included by the root Makefile: the whole compose stack. See README.md here.
include $(dir $(lastword $(MAKEFILE_LIST)))compose.mk

# SCALE_<STAGE>=N runs N copies of that stage; a stage not named runs one.
SCALE_FLAGS = $(if $(SCALE_ANALYZER),--scale analyzer=$(SCALE_ANALYZER)) \
	$(if $(SCALE_GENERATOR),--scale generator=$(SCALE_GENERATOR)) \
	$(if $(SCALE_PROVISIONER),--scale provisioner=$(SCALE_PROVISIONER)) \
	$(if $(SCALE_VERIFIER),--scale verifier=$(SCALE_VERIFIER))

.PHONY: up down logs ps

up: ## the whole system in Docker compose (SCALE_ANALYZER=4 … runs more copies of a stage)
	@$(STAGE_TERRAFORM)
	$(COMPOSE) up -d --build $(strip $(SCALE_FLAGS))
	@echo "autodeploy is up:"
	@echo "  API and dashboard  http://127.0.0.1:8000/  (docs: /docs)"
	@echo "  RabbitMQ UI        http://127.0.0.1:15672/ (guest/guest)"
	@echo "  Prometheus         http://127.0.0.1:9090/"
	@echo "  Grafana            http://127.0.0.1:3000/  (dashboard: autodeploy)"

down: ## stop the compose stack (volumes are kept; add V=1 to remove them too)
	$(COMPOSE) down $(if $(V),--volumes)

logs: ## follow the compose stack's logs (SERVICE=name for one service)
	$(COMPOSE) logs --follow --tail=200 $(SERVICE)

ps: ## the compose stack's containers and their health
	$(COMPOSE) ps
