# Shared by service.mk (services/<name>/Makefile) and stack.mk (the root Makefile): how
# to call compose on deploy/compose/compose.yaml from anywhere. See README.md here.
STACK_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
COMPOSE_FILE := $(STACK_ROOT)/deploy/compose/compose.yaml
STAGES := analyzer generator provisioner verifier

# `docker compose` (v2 plugin) when present, else Debian's docker-compose (v1).
COMPOSE_BIN ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# Settings come from the repository's .env when there is one.
ENV_FILE ?= $(wildcard $(STACK_ROOT)/.env)
COMPOSE := $(COMPOSE_BIN) --project-name autodeploy -f $(COMPOSE_FILE) $(if $(ENV_FILE),--env-file $(ENV_FILE))

# Where nothing can be pulled, build on the local image overrides.json maps
# python:3.11-slim to, if it has been built (`make images`); PYTHON_IMAGE overrides.
LOCAL_PYTHON_IMAGE := $(shell python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("python:3.11-slim", ""))' $(STACK_ROOT)/deploy/base-images/overrides.json 2>/dev/null)
PYTHON_IMAGE ?= $(shell docker image inspect $(LOCAL_PYTHON_IMAGE) >/dev/null 2>&1 && echo $(LOCAL_PYTHON_IMAGE))
ifneq ($(PYTHON_IMAGE),)
export PYTHON_IMAGE
endif
# The group owning the Docker socket, which the provisioner and verifier join.
DOCKER_GID ?= $(shell stat -c %g /var/run/docker.sock 2>/dev/null)
ifneq ($(DOCKER_GID),)
export DOCKER_GID
endif

# Run before every build: stages the host's terraform into the provisioner's build context
# when it is the version (and binary) deploy/terraform/pin.env pins, else says why not and
# the image builds without it. A recipe line, not a target, so no including Makefile's
# default goal changes.
STAGE_TERRAFORM := bash $(STACK_ROOT)/scripts/stage-terraform.sh
