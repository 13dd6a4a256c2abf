#!/usr/bin/env bash
# Builds every image of docker/compose.yaml on this machine, from what is reachable here
# (Debian's package mirror, crates.io) rather than a public image registry:
#   1. local/debian:bookworm, a minimal Debian made by debootstrap (docker/base/debootstrap.sh)
#      and `docker import`ed; rebuilt only when that recipe changes (its hash is a label);
#   2. the release binaries, built on the host into the persistent CARGO_TARGET_DIR (warm in
#      CI) and staged in data/docker/bin/;
#   3. the service images (docker/Dockerfile, BINARIES=prebuilt) and PostgreSQL, RabbitMQ and
#      the gateway (Debian's packages), all FROM the local base, with BuildKit's layer cache.
# Prints how long each step took. Idempotent; run by `make images` and `make up`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's client: it drives the daemon's BuildKit itself (a newer client on PATH may lack buildx).
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1
BASE=local/debian:bookworm
step() { printf '%s %-28s %4ss\n' "---" "$1" "$(($(date +%s) - $2))"; }

# 1. The base image, keyed by its recipe.
t=$(date +%s)
recipe=$(sha256sum docker/base/debootstrap.sh | cut -c1-16)
have=$("$DOCKER" image inspect --format '{{index .Config.Labels "vbs.recipe"}}' "$BASE" 2>/dev/null || true)
if [[ "$have" != "$recipe" ]]; then
    mirror=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
        /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null || true)
    mirror=${VBS_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}
    echo "building $BASE with debootstrap from $mirror (recipe $recipe)"
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    docker/base/debootstrap.sh "$root/fs" "$mirror"
    tar -C "$root/fs" -c . | "$DOCKER" import \
        --change "LABEL vbs.recipe=$recipe" --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$BASE" >/dev/null
    rm -rf "$root"
    trap - EXIT
fi
step "base image $BASE" "$t"

# 2. Release binaries from the host's target directory.
t=$(date +%s)
cargo build --release --locked -q \
    -p policy-service -p task-scheduler -p backup-service -p vbsctl -p span-recorder
target=${CARGO_TARGET_DIR:-target}
mkdir -p data/docker/bin
for bin in policy-service task-scheduler backup-service vbsctl span-recorder; do
    # Only a changed binary changes the COPY layer (cp -p keeps the build's mtime; BuildKit
    # compares contents anyway).
    cmp -s "$target/release/$bin" "data/docker/bin/$bin" || cp -p "$target/release/$bin" data/docker/bin/
done
step "release binaries" "$t"

# 3. The images.
build() {
    local tag=$1 file=$2
    shift 2
    local t
    t=$(date +%s)
    "$DOCKER" build -q -f "$file" --build-arg BASE_IMAGE="$BASE" -t "$tag" "$@" . >/dev/null
    step "image $tag" "$t"
}
for target in policy-service task-scheduler backup-service span-recorder; do
    build "vbs/$target" docker/Dockerfile --target "$target" --build-arg BINARIES=prebuilt
done
build vbs/postgres docker/postgres/Dockerfile
build vbs/rabbitmq docker/rabbitmq/Dockerfile
build vbs/gateway docker/gateway/Dockerfile
