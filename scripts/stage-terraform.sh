#!/usr/bin/env bash
# Stage the host's terraform into the provisioner image's build context
# (deploy/terraform/bin/terraform, or DEST/terraform), only when it is the pinned one
# (deploy/terraform/pin.env: the version, and the binary's sha256 where one is recorded
# for this platform). No registry serves Terraform to every machine, so the image takes
# what the host has; a missing or different terraform is not staged, and the image builds
# without it: cloud targets then stop at the plan, as without credentials.
#   scripts/stage-terraform.sh [DEST]    TERRAFORM_BIN picks the host binary (terraform)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/deploy/terraform/bin}"
# shellcheck disable=SC1091  # KEY=value lines, read as they are
. "$root/deploy/terraform/pin.env"
staged="$dest/terraform"

skip() {
    # A binary staged earlier must not outlive the reason it was staged.
    rm -f "$staged"
    echo "stage-terraform: $*; the provisioner image is built without terraform" >&2
    exit 0
}

bin="$(command -v "${TERRAFORM_BIN:-terraform}" || true)"
[ -n "$bin" ] || skip "no ${TERRAFORM_BIN:-terraform} on this machine (Terraform $TERRAFORM_VERSION wanted)"

# CHECKPOINT_DISABLE: `terraform version` would otherwise ask HashiCorp for news.
info="$(CHECKPOINT_DISABLE=1 "$bin" version -json 2>/dev/null || true)"
version="$(sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p' <<<"$info")"
platform="$(sed -n 's/.*"platform": *"\([^"]*\)".*/\1/p' <<<"$info")"
if [ "$version" != "$TERRAFORM_VERSION" ]; then
    skip "refusing $bin: it is Terraform ${version:-of unknown version}, the pin (deploy/terraform/pin.env) is $TERRAFORM_VERSION; install $TERRAFORM_VERSION or change the pin"
fi
pinned_sum_name="TERRAFORM_SHA256_${platform}"
pinned_sum="${!pinned_sum_name:-}"
if [ -n "$pinned_sum" ]; then
    sum="$(sha256sum "$bin" | cut -d' ' -f1)"
    [ "$sum" = "$pinned_sum" ] || skip "refusing $bin: Terraform $version for $platform, but its sha256 is $sum, not the pinned $pinned_sum"
fi

mkdir -p "$dest"
# Copy only a changed binary, so an unchanged one keeps Docker's layer cache.
if ! cmp -s "$bin" "$staged"; then
    cp "$bin" "$staged"
    chmod 0755 "$staged"
fi
echo "stage-terraform: Terraform $version ($platform) from $bin staged for the provisioner image"
