# autodeploy — common tasks. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

# `make up` / `down` / `logs` / `ps`: the compose stack (deploy/compose/README.md).
include deploy/compose/stack.mk

.PHONY: help venv lock migrate dev demo test test-unit lint images docker services tools bench fuzz secret-key clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

LOCK := requirements-dev.lock

# Every dependency, direct or not, at the version and hashes in the lock file: a new
# release of a library cannot change what CI or a fresh machine runs until `make lock`.
$(VENV)/.installed: pyproject.toml $(LOCK)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes -r $(LOCK)
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed ## create the virtualenv from the lock file
	@$(VENV)/bin/pip check -q >/dev/null || $(VENV)/bin/pip check

# The service images install from the runtime lock (no dev extra) and the verifier's also
# from the browser lock (playwright at the dev lock's version); both are resolved under the
# dev lock, so an image runs exactly the versions the tests ran.
RUNTIME_LOCK := requirements.lock
BROWSER_LOCK := requirements-browser.lock
PIP_COMPILE = $(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host --upgrade

lock: venv ## re-resolve pyproject.toml's dependencies into the lock files (then review and commit them)
	$(PIP_COMPILE) --extra dev -o $(LOCK) pyproject.toml
	$(PIP_COMPILE) -c $(LOCK) -o $(RUNTIME_LOCK) pyproject.toml
	grep -m1 '^playwright==' $(LOCK) | cut -d' ' -f1 | $(PIP_COMPILE) -c $(LOCK) -o $(BROWSER_LOCK) -

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

tools: ## install the Debian tools tests and benchmarks use, when missing
	bash scripts/ensure-tools.sh

services: ## make sure local PostgreSQL and RabbitMQ answer
	bash scripts/ensure-services.sh

docker: ## make sure a Docker engine answers
	bash scripts/ensure-docker.sh

images: docker ## build the local base images (no registry needed)
	bash scripts/build-base-images.sh

migrate: venv ## bring the database in DATABASE_URL to the newest schema
	$(PY) scripts/ensure-database.py
	$(PY) -m alembic upgrade head

# Without a configured TOKEN_ENCRYPTION_KEY, dev mode makes one for this run, shared by all
# five processes, so private-repository tokens work out of the box. Without a configured
# BASE_IMAGE_OVERRIDES, builds use the local base images present (`make images`), each
# official name mapped to the image that runs that version or the nearest newer one.
dev: venv services migrate ## run the gateway and the four stages locally, logs interleaved
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
	BASE_IMAGE_OVERRIDES="$$($(PY) scripts/base-image-overrides.py --write $(VENV)/base-image-overrides.json)" \
	TOKEN_ENCRYPTION_KEY="$${TOKEN_ENCRYPTION_KEY:-$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}" \
	$(VENV)/bin/honcho -f Procfile.dev start

demo: venv services images migrate ## bring everything up and deploy the embedded sample app
	$(PY) scripts/demo.py

lint: venv tools node_modules/.installed ## ruff, mypy, the import contracts, markdownlint (default rules)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	node_modules/.bin/markdownlint '**/*.md'
	shellcheck scripts/*.sh .ci/run

test-unit: venv ## the fast tier: no services needed (installs git and shellcheck when missing)
	bash scripts/ensure-tools.sh git shellcheck
	$(VENV)/bin/pytest -q -m "not integration and not e2e and not docker" $(PYTEST_ARGS)

test: venv tools services images lint ## everything: lint, unit, integration, end-to-end
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

bench: venv tools services ## benchmarks (writes bench/results/latest.md)
	$(PY) bench/run.py

# `make test` runs the same fuzz test short and seeded; this run is long, with a new seed
# each time unless FUZZ_SEED is given, and prints inputs tried, refusals and crashes.
fuzz: venv ## fuzz the analyzer's readers with hostile repositories (FUZZ_EXAMPLES, FUZZ_SEED)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} FUZZ_SEED=$${FUZZ_SEED:-$$RANDOM} \
		$(VENV)/bin/pytest -q -s -p no:cacheprovider --timeout=0 tests/analyzer/test_fuzz_readers.py

secret-key: venv ## print a new TOKEN_ENCRYPTION_KEY
	@$(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'

clean: ## remove caches
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
