#!/usr/bin/env bash
# Install the Debian tools the tests and benchmarks use, when missing (idempotent):
# git (and its http-backend for the test git server), curl, debootstrap (local base
# images), shellcheck (lint), chromium (browser tests), docker-compose, prometheus
# (its config is tested), wrk (the gateway benchmark and its smoke test), tcpdump (the
# pipeline benchmark's wire breakdown of one hop), docker-registry (a local OCI registry
# standing in for ECR and a cluster's registry).
# With arguments, only those tools: `make test-unit` asks for the two its checks run
# (git, shellcheck) and no more.
set -euo pipefail

tools=(git curl debootstrap shellcheck chromium docker-compose prometheus wrk tcpdump docker-registry)
if [ $# -gt 0 ]; then tools=("$@"); fi
need=()
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
echo "ensure-tools: installing ${need[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
