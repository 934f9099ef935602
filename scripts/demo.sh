#!/usr/bin/env bash
# The main job, end to end on this machine: build examples/demo with layercache twice.
#
#   1. cold: build, push to a loopback registry with inline cache metadata;
#   2. the image and BuildKit's whole build cache are deleted;
#   3. warm: build again with cache-from type=registry: every step comes from cache.
#
# When the newest-BuildKit lane is present (scripts/setup.d/20-buildkit-lane.sh), the main
# job as users run it follows: a docker-container builder exports gha cache through the
# cache service layercache starts in-process, the builder is removed (its state with it),
# and a fresh builder rebuilds from the gha cache alone.
#
# Starts (and stops on exit) its own dockerd and registry, like scripts/test.sh; needs root
# on Debian 12. State in .work/demo.
set -euo pipefail

LC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LC_WORK=${LAYERCACHE_WORK:-$LC_REPO/.work/demo}
export LC_REPO LC_WORK
# shellcheck source=lib/common.sh
. "$LC_REPO/scripts/lib/common.sh"
# shellcheck source=lib/install.sh
. "$LC_REPO/scripts/lib/install.sh"
# shellcheck source=lib/docker.sh
. "$LC_REPO/scripts/lib/docker.sh"
# shellcheck source=lib/registry.sh
. "$LC_REPO/scripts/lib/registry.sh"

mkdir -p "$LC_WORK"
exec 9>"$LC_WORK/lock"
flock -n 9 || lc_die "another scripts/demo.sh is running with $LC_WORK"
trap 'rc=$?; lc_stop_all; exit $rc' EXIT
cd "$LC_REPO"

lc_install_tools
lc_stop_all
lc_start_dockerd
lc_make_base_image layercache-demo-base:latest
lc_start_registry

lc_log "building layercache (cargo build)"
cargo build --locked --bin layercache
bin=$LC_REPO/target/debug/layercache
image=$LC_REGISTRY/demo/app:latest
export DOCKER_HOST=$LC_DOCKER_HOST

build() {
    local log=$1
    shift
    local start=$EPOCHREALTIME
    "$bin" build examples/demo --build-args BASE=layercache-demo-base:latest \
        --tags "$image" --cache-advice=false "$@" | tee "$log"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' >"$log.seconds"
}

lc_log "build 1 of 2: cold, pushed with inline cache"
build "$LC_WORK/cold.log" --push --cache-to type=inline

lc_log "deleting the image and BuildKit's build cache"
lc_docker rmi -f "$image" >/dev/null 2>&1 || true
curl -fsS --unix-socket "${LC_DOCKER_HOST#unix://}" -X POST 'http://docker/build/prune?all=1' >/dev/null

lc_log "build 2 of 2: warm, cache-from the registry"
build "$LC_WORK/warm.log" --load --cache-from "type=registry,ref=$image"

# RUN/COPY steps of a build log, and how many of them BuildKit answered from cache.
steps() { awk '/^#[0-9]+ \[[^]]*[0-9]+\/[0-9]+\] (RUN|COPY)/ { print $1 }' "$1" | sort -u; }
cached() {
    local n=0 id
    for id in $(steps "$1"); do
        grep -qx "$id CACHED" "$1" && n=$((n + 1))
    done
    echo "$n"
}
cold=$(cat "$LC_WORK/cold.log.seconds")
warm=$(cat "$LC_WORK/warm.log.seconds")
echo
echo "cold build: ${cold}s, $(cached "$LC_WORK/cold.log") of $(steps "$LC_WORK/cold.log" | wc -l) RUN/COPY steps cached"
echo "warm build: ${warm}s, $(cached "$LC_WORK/warm.log") of $(steps "$LC_WORK/warm.log" | wc -l) RUN/COPY steps cached"
awk -v c="$cold" -v w="$warm" 'BEGIN { printf "warm/cold: %.2f\n", w / c }'
lc_docker run --rm "$image"

# shellcheck source=setup.d/20-buildkit-lane.sh
. "$LC_REPO/scripts/setup.d/20-buildkit-lane.sh"
[ -n "${LAYERCACHE_TEST_BUILDKIT_IMAGE:-}" ] || exit 0

# A BuildKit container cannot see the daemon's images: FROM comes from the registry.
base=$LC_REGISTRY/layercache-demo-base:latest
lc_docker tag layercache-demo-base:latest "$base"
lc_docker push -q "$base" >/dev/null
export LAYERCACHE_CACHE_DIR=$LC_WORK/actions-cache
rm -rf "$LAYERCACHE_CACHE_DIR"
gha() {
    local log=$1
    shift
    local start=$EPOCHREALTIME
    "$bin" build examples/demo --build-args "BASE=$base" --tags demo/app:gha --load \
        --cache-advice=false --driver docker-container --builder demo-builder \
        --builder-image "$LAYERCACHE_TEST_BUILDKIT_IMAGE" --driver-opts network=host "$@" |
        tee "$log"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' >"$log.seconds"
}
lc_log "gha build 1 of 2: cold, BuildKit $LAYERCACHE_TEST_BUILDKIT_IMAGE in a container, cache-to type=gha"
gha "$LC_WORK/gha-cold.log" --cache-to type=gha,mode=max
lc_log "removing the builder container and its state (the post step)"
STATE_builder=demo-builder "$bin" post
lc_log "gha build 2 of 2: a fresh builder, cache-from type=gha"
gha "$LC_WORK/gha-warm.log" --cache-from type=gha
cold=$(cat "$LC_WORK/gha-cold.log.seconds")
warm=$(cat "$LC_WORK/gha-warm.log.seconds")
echo
echo "gha cold build: ${cold}s, $(cached "$LC_WORK/gha-cold.log") of $(steps "$LC_WORK/gha-cold.log" | wc -l) RUN/COPY steps cached"
echo "gha warm build: ${warm}s, $(cached "$LC_WORK/gha-warm.log") of $(steps "$LC_WORK/gha-warm.log" | wc -l) RUN/COPY steps cached"
awk -v c="$cold" -v w="$warm" 'BEGIN { printf "warm/cold: %.2f\n", w / c }'
STATE_builder=demo-builder "$bin" post
lc_docker run --rm demo/app:gha
