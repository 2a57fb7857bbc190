#!/usr/bin/env bash
# Build the local base images without pulling anything.
#
#   scripts/build-base-images.sh [--force] [--release NAME] [--only debian,python,node,nginx,postgres,redis]
#
# debootstraps a minimal Debian (this machine's release) into a cached rootfs tarball,
# `docker import`s it, then builds deploy/base-images/*/Dockerfile on top:
#
#   autodeploy-local/debian:<release>      (+ :<release>-slim)
#   autodeploy-local/python:3.12-slim
#   autodeploy-local/node:20-slim
#   autodeploy-local/nginx:1.27-alpine
#   autodeploy-local/postgres:15, autodeploy-local/redis:7   (backing services)
#
# deploy/base-images/overrides.json maps official image names onto these.
# Images that exist are skipped unless --force. The rootfs tarball is cached in
# $AUTODEPLOY_CACHE_DIR (default /var/cache/autodeploy as root, else
# $XDG_CACHE_HOME/autodeploy); delete it to debootstrap again.
# Mirror and proxy are read from this machine's apt configuration at run time.
set -euo pipefail

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
images_dir="$project_root/deploy/base-images"

force=0
release=""
only="debian,python,node,nginx,postgres,redis"
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        --release) release="$2"; shift ;;
        --only) only="$2"; shift ;;
        -h | --help)
            sed -n '2,19p' "$0"
            exit 0
            ;;
        *)
            echo "build-base-images: unknown argument '$1' (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done

log() { echo "build-base-images: $*"; }
die() { echo "build-base-images: $*" >&2; exit 1; }

if [ -z "$release" ]; then
    # shellcheck disable=SC1091
    release="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
fi
[ -n "$release" ] || die "cannot tell this machine's Debian release; pass --release bookworm"
arch="$(dpkg --print-architecture)"

if [ -n "${AUTODEPLOY_CACHE_DIR:-}" ]; then
    cache_dir="$AUTODEPLOY_CACHE_DIR"
elif [ "$(id -u)" -eq 0 ]; then
    cache_dir="/var/cache/autodeploy"
else
    cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/autodeploy"
fi
mkdir -p "$cache_dir"
rootfs_tar="$cache_dir/debian-$release-$arch-rootfs.tar"

docker info >/dev/null 2>&1 || die "no Docker engine answers; run scripts/ensure-docker.sh first"
# Pin the classic builder: it is what the daemon always has, and buildx may be absent.
export DOCKER_BUILDKIT=0

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
wanted() { [[ ",$only," == *",$1,"* ]]; }

# --- apt configuration of this machine -------------------------------------------
# Prints "URI SUITE" for every Debian deb source (deb822 .sources and one-line .list).
apt_sources() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
                types = ""; enabled = ""; nu = 0; ns = 0
            }
            /^[[:space:]]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:" { $1 = ""; types = $0 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            tolower($1) == "uris:" { for (i = 2; i <= NF; i++) u[++nu] = $i }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) s[++ns] = $i }
            END { flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                print $i, $(i + 1)
            }' "$f"
    done
}

main_mirror="$(apt_sources | awk -v r="$release" '$2 == r { print $1; exit }')"
security_mirror="$(apt_sources | awk -v r="$release-security" '$2 == r { print $1; exit }')"
[ -n "$main_mirror" ] || die "no apt source for suite '$release' in /etc/apt; cannot debootstrap"
log "release $release ($arch), mirror from apt config: $main_mirror"

# --- rootfs ------------------------------------------------------------------------
build_rootfs() {
    command -v debootstrap >/dev/null 2>&1 || {
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap \
            >/dev/null
    }
    local target
    target="$(mktemp -d "$cache_dir/rootfs.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "rm -rf '$target'" EXIT
    mkdir -p "$cache_dir/debs"
    log "debootstrap --variant=minbase $release (debs cached in $cache_dir/debs)"
    # apt's proxy setting, if any, is what lets debootstrap's wget reach the mirror too.
    local proxy
    proxy="$(apt-config dump 2>/dev/null | awk -F'"' '/^Acquire::http::Proxy /{print $2; exit}')"
    http_proxy="${http_proxy:-$proxy}" debootstrap --variant=minbase --include=ca-certificates \
        --cache-dir="$cache_dir/debs" --arch="$arch" "$release" "$target" "$main_mirror" \
        >"$cache_dir/debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $cache_dir/debootstrap.log"
    # Trim what the official slim images leave out too (~130 MB: package lists,
    # downloaded .debs, docs, man pages, translations); apt-get update restores lists.
    rm -rf "$target"/var/cache/apt/* "$target"/var/lib/apt/lists/* \
        "$target"/usr/share/doc/* "$target"/usr/share/man/* "$target"/usr/share/info/*
    find "$target/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
        -exec rm -rf {} +
    tar --numeric-owner -C "$target" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$target"
    trap - EXIT
}

rootfs_image="autodeploy-local/debian-rootfs:$release"
if wanted debian || ! image_exists "autodeploy-local/debian:$release"; then
    if [ "$force" -eq 1 ] || ! image_exists "$rootfs_image"; then
        if [ -f "$rootfs_tar" ]; then
            log "using cached rootfs $rootfs_tar"
        else
            build_rootfs
        fi
        log "docker import -> $rootfs_image"
        old_rootfs_id="$(docker image inspect --format '{{.Id}}' "$rootfs_image" 2>/dev/null || true)"
        docker import --change 'CMD ["bash"]' "$rootfs_tar" "$rootfs_image" >/dev/null
        [ -z "$old_rootfs_id" ] || docker rmi "$old_rootfs_id" >/dev/null 2>&1 || true
    fi
fi

# --- image builds ------------------------------------------------------------------
build_image() {
    local name="$1" tag="$2"
    shift 2
    # The recipe hash (the image's folder) is stored as a label: an image built from an
    # older recipe is rebuilt, so a changed Dockerfile never leaves a stale image behind.
    local recipe
    recipe="$(cd "$images_dir/$name" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    if [ "$force" -eq 0 ] && image_exists "$tag" \
        && [ "$(docker image inspect --format '{{index .Config.Labels "autodeploy.recipe"}}' "$tag" 2>/dev/null)" = "$recipe" ]; then
        log "$tag is up to date (skipped; --force rebuilds)"
        return 0
    fi
    local context started old_id
    old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
    context="$(mktemp -d)"
    cp -r "$images_dir/$name/." "$context/"
    cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
    case "$name" in
        debian) render_apt_config "$context" ;;
        python | node) "$python_bin" "$images_dir/render_config.py" "$context" ;;
    esac
    started=$SECONDS
    log "building $tag"
    if ! docker build --pull=false --label "autodeploy.base-image=$name" \
        --label "autodeploy.recipe=$recipe" -t "$tag" "$@" \
        "$context" >"$cache_dir/build-$name.log" 2>&1; then
        tail -n 30 "$cache_dir/build-$name.log" >&2
        rm -rf "$context"
        die "building $tag failed; full log: $cache_dir/build-$name.log"
    fi
    rm -rf "$context"
    # A rebuilt image leaves its predecessor dangling; rmi refuses if something still uses it.
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
        docker rmi "$old_id" >/dev/null 2>&1 || true
    fi
    log "built $tag in $((SECONDS - started))s"
}

render_apt_config() {
    local context="$1"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' \
            "$main_mirror" "$release" "$release"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [ -n "$security_mirror" ]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
                "$security_mirror" "$release"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$context/debian.sources"
    { apt-config dump 2>/dev/null | grep -E '^Acquire::(http|https|ftp)::Proxy ' || true; } \
        | sed 's/$/;/' >"$context/apt-proxy.conf"
}

python_bin="$(command -v python3 || true)"
[ -n "$python_bin" ] || die "python3 is needed to render pip/npm settings"

total_started=$SECONDS
base="autodeploy-local/debian:$release"
if wanted debian; then
    build_image debian "$base" --build-arg "ROOTFS_IMAGE=$rootfs_image"
    docker tag "$base" "$base-slim"
fi
image_exists "$base" || die "$base is missing; run without --only, or with --only debian"
wanted python && build_image python autodeploy-local/python:3.12-slim --build-arg "BASE_IMAGE=$base"
wanted node && build_image node autodeploy-local/node:20-slim --build-arg "BASE_IMAGE=$base"
wanted nginx && build_image nginx autodeploy-local/nginx:1.27-alpine --build-arg "BASE_IMAGE=$base"
wanted postgres && build_image postgres autodeploy-local/postgres:15 --build-arg "BASE_IMAGE=$base"
wanted redis && build_image redis autodeploy-local/redis:7 --build-arg "BASE_IMAGE=$base"
log "done in $((SECONDS - total_started))s; overrides: $images_dir/overrides.json"
