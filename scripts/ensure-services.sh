#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ (with its management and Prometheus plugins) answer
# on 127.0.0.1, starting them when they are installed but stopped, or, on a machine that
# has neither, starting them in Docker (deploy/compose/test-services.yaml). Idempotent.
set -euo pipefail

log() { echo "ensure-services: $*"; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! command -v rabbitmq-server >/dev/null 2>&1 && ! command -v pg_ctlcluster >/dev/null 2>&1 \
    && ! { port_open 5432 && port_open 5672; }; then
    log "no local PostgreSQL/RabbitMQ: starting them with Docker compose"
    bash "$here/scripts/ensure-docker.sh" --no-compose >/dev/null
    if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
    "${compose[@]}" -p autodeploy-test-services -f "$here/deploy/compose/test-services.yaml" up -d --wait \
        || "${compose[@]}" -p autodeploy-test-services -f "$here/deploy/compose/test-services.yaml" up -d
    for _ in $(seq 1 120); do port_open 5432 && port_open 5672 && break; sleep 1; done
fi

pg_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null
    else
        port_open 5432
    fi
}
if ! pg_up; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -1)"
        log "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "ensure-services: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }

rabbit_up() { rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }
if command -v rabbitmq-server >/dev/null 2>&1; then
    if ! rabbit_up; then
        log "starting RabbitMQ"
        rabbitmq-server -detached || true
        for _ in $(seq 1 60); do rabbit_up && break; sleep 1; done
    fi
    rabbit_up || { echo "ensure-services: RabbitMQ does not answer on 127.0.0.1:5672" >&2; exit 1; }
    enabled="$(rabbitmq-plugins list -e -m 2>/dev/null || true)"
    if ! grep -qx rabbitmq_management <<<"$enabled" || ! grep -qx rabbitmq_prometheus <<<"$enabled"; then
        log "enabling the management and prometheus plugins"
        rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus >/dev/null
    fi
    for _ in $(seq 1 30); do
        curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && break
        sleep 1
    done
fi
curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null \
    || { echo "ensure-services: RabbitMQ management API does not answer on :15672" >&2; exit 1; }
log "PostgreSQL and RabbitMQ are up"
