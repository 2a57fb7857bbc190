#!/usr/bin/env bash
# Make a Docker engine reachable, idempotently.
#
#   scripts/ensure-docker.sh            # engine + docker-compose
#   scripts/ensure-docker.sh --no-compose
#
# 1. `docker info` already answers (local daemon, or DOCKER_HOST)  -> done.
# 2. dockerd missing -> apt-get install docker.io.
# 3. start dockerd in the background (no systemd in these sandboxes), log to
#    $DOCKERD_LOG, wait (bounded) until `docker info` answers.
# 4. install Debian's docker-compose (v1) if no compose is available.
#
# Environment: DOCKERD_LOG (default /var/log/dockerd.log, or var/dockerd.log in
# the project when /var/log is not writable), DOCKERD_WAIT_SECONDS (default 60),
# DOCKERD_EXTRA_ARGS (appended to the dockerd command line).
set -euo pipefail

want_compose=1
for arg in "$@"; do
    case "$arg" in
        --no-compose) want_compose=0 ;;
        -h | --help)
            sed -n '2,17p' "$0"
            exit 0
            ;;
        *)
            echo "ensure-docker: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wait_seconds="${DOCKERD_WAIT_SECONDS:-60}"

log() { echo "ensure-docker: $*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "ensure-docker: '$*' needs root and sudo is not available" >&2
        exit 1
    fi
}

apt_install() {
    log "apt-get install -y $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" \
        >/dev/null || {
        # A stale package index is the usual cause on a fresh machine.
        as_root apt-get update >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" \
            >/dev/null
    }
}

engine_answers() { docker info >/dev/null 2>&1; }

ensure_compose() {
    [ "$want_compose" -eq 1 ] || return 0
    if docker compose version >/dev/null 2>&1; then
        log "compose plugin present: $(docker compose version --short 2>/dev/null || true)"
    elif command -v docker-compose >/dev/null 2>&1; then
        log "docker-compose present: $(docker-compose version --short 2>/dev/null || true)"
    elif command -v apt-get >/dev/null 2>&1; then
        # Debian ships compose v1 (python) as docker-compose; the v2 plugin is not packaged.
        apt_install docker-compose
        log "installed docker-compose $(docker-compose version --short 2>/dev/null || true)"
    else
        log "no compose available and no apt-get to install it (continuing)"
    fi
}

# The docker CLI may be missing even when the engine is remote (DOCKER_HOST).
if ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
fi

if engine_answers; then
    log "engine already answering ($(docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
    ensure_compose
    exit 0
fi

if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != unix://* ]]; then
    echo "ensure-docker: DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
else
    log_file="${DOCKERD_LOG:-/var/log/dockerd.log}"
    if ! { : >>"$log_file"; } 2>/dev/null; then
        mkdir -p "$project_root/var"
        log_file="$project_root/var/dockerd.log"
    fi
    # Without systemd nobody mounts the cgroup hierarchies; dockerd needs them.
    if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && ! mountpoint -q /sys/fs/cgroup 2>/dev/null; then
        log "mounting cgroup hierarchies (no init system did)"
        command -v cgroupfs-mount >/dev/null 2>&1 || apt_install cgroupfs-mount
        as_root cgroupfs-mount
    fi
    # A daemon killed uncleanly leaves its pid file behind and refuses to start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        as_root rm -f /var/run/docker.pid
    fi
    # Defaults work here (overlay2 on ext4, cgroupfs driver on cgroup v1, iptables-nft);
    # DOCKERD_EXTRA_ARGS is the escape hatch, e.g. "--storage-driver=vfs --iptables=false"
    # on a host without overlayfs or netfilter.
    read -r -a extra_args <<<"${DOCKERD_EXTRA_ARGS:-}"
    log "starting dockerd${extra_args[*]:+ ${extra_args[*]}} (log: $log_file)"
    as_root nohup dockerd "${extra_args[@]}" >>"$log_file" 2>&1 &
    disown || true
fi

deadline=$((SECONDS + wait_seconds))
until engine_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "ensure-docker: dockerd did not answer within ${wait_seconds}s; last log lines:" >&2
        tail -n 20 "${log_file:-/var/log/dockerd.log}" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 1
done
log "engine up ($(docker info --format '{{.ServerVersion}} {{.Driver}} cgroup-{{.CgroupVersion}}' 2>/dev/null))"
ensure_compose
