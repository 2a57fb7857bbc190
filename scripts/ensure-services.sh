#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ (with its management and Prometheus
# plugins) answer, starting them when they are installed but stopped. Idempotent.
set -euo pipefail

log() { echo "ensure-services: $*"; }

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
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
