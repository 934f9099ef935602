#!/usr/bin/env bash
# The main job, end to end on this machine: build examples/demo with layercache twice, the
# second time from cache.
#
# Part 1, what users run (the Docker Engine runners ship: Debian unstable's docker.io 28
# with the containerd image store, scripts/lib/docker28.sh), with the default driver
# (`auto` picks the daemon's own BuildKit):
#   1. cold: cache-to type=gha,mode=max, cache-from type=gha, through the cache service
#      layercache starts in-process (no GitHub cache in the environment; state in
#      $LC_WORK/actions-cache), BuildKit uploading to layercache's relay;
#   2. the image and the daemon's whole build cache are deleted;
#   3. warm: the same command; every step comes from the gha cache alone.
# When Debian unstable cannot be reached (and no earlier run unpacked the packages), part 1
# says it is skipped.
#
# Part 2, on Engine 20.10 (its BuildKit cannot export gha): the same twice with the
# registry cache (inline metadata, cache-from type=registry) on a loopback registry.
#
# When the newest-BuildKit lane is present (scripts/setup.d/20-buildkit-lane.sh), part 3:
# a docker-container builder exports gha cache, is removed with its state (the post step),
# and a fresh builder rebuilds from the gha cache alone.
#
# Starts (and stops on exit) its own daemons and registry, like scripts/test.sh; needs root
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
# shellcheck source=lib/docker28.sh
. "$LC_REPO/scripts/lib/docker28.sh"
# shellcheck source=lib/registry.sh
. "$LC_REPO/scripts/lib/registry.sh"

mkdir -p "$LC_WORK"
exec 9>"$LC_WORK/lock"
flock -n 9 || lc_die "another scripts/demo.sh is running with $LC_WORK"
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; lc_stop_all; exit $rc' EXIT
cd "$LC_REPO"

lc_install_tools
lc_stop_all

lc_log "building layercache (cargo build)"
cargo build --locked --bin layercache
bin=$LC_REPO/target/debug/layercache

# How long a command takes, in seconds to a tenth, into FILE.seconds: timed LOG CMD...
timed() {
    local log=$1
    shift
    local start=$EPOCHREALTIME
    "$@" | tee "$log"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' >"$log.seconds"
}
# RUN/COPY steps of a build log, and how many of them BuildKit answered from cache.
steps() { awk '/^#[0-9]+ \[[^]]*[0-9]+\/[0-9]+\] (RUN|COPY)/ { print $1 }' "$1" | sort -u; }
cached() {
    local n=0 id
    for id in $(steps "$1"); do
        grep -qx "$id CACHED" "$1" && n=$((n + 1))
    done
    echo "$n"
}
# The figures of a cold and a warm build: figures NAME COLD.log WARM.log
figures() {
    local name=$1 cold_log=$2 warm_log=$3 cold warm
    cold=$(cat "$cold_log.seconds")
    warm=$(cat "$warm_log.seconds")
    echo
    echo "$name cold build: ${cold}s, $(cached "$cold_log") of $(steps "$cold_log" | wc -l) RUN/COPY steps cached"
    echo "$name warm build: ${warm}s, $(cached "$warm_log") of $(steps "$warm_log" | wc -l) RUN/COPY steps cached"
    awk -v c="$cold" -v w="$warm" 'BEGIN { printf "warm/cold: %.2f\n", w / c }'
}

# Part 1: the Docker 28 lane, default driver, gha cache.
demo_docker28() {
    if ! lc_docker28_up layercache-demo-base:latest; then
        lc_log "part 1 SKIPPED"
        return 0
    fi
    local cache_dir=$LC_WORK/actions-cache
    rm -rf "$cache_dir"
    # No ACTIONS_* here: type=gha uses the cache service layercache starts in-process.
    gha28() {
        timed "$1" env DOCKER_HOST="$LC_D28_HOST" LAYERCACHE_CACHE_DIR="$cache_dir" \
            "$bin" build examples/demo --build-args BASE=layercache-demo-base:latest \
            --tags demo/app:gha --load --cache-advice=false \
            --cache-from type=gha --cache-to type=gha,mode=max
    }
    lc_log "part 1, build 1 of 2: cold, Docker 28 with the default driver, cache-to type=gha,mode=max"
    gha28 "$LC_WORK/d28-cold.log"
    lc_log "deleting the image and the daemon's whole build cache"
    lc_docker28 rmi -f demo/app:gha >/dev/null
    curl -fsS --unix-socket "$LC_D28_SOCK" -X POST 'http://docker/build/prune?all=1' >/dev/null
    lc_docker28 system df --format '{{.Type}}: {{.TotalCount}} entries, {{.Size}}' | grep -i 'build cache' >&2
    lc_log "part 1, build 2 of 2: warm, from the gha cache alone"
    gha28 "$LC_WORK/d28-warm.log"
    figures "gha (Docker 28, driver $(driver_of "$LC_WORK/d28-warm.log"))" \
        "$LC_WORK/d28-cold.log" "$LC_WORK/d28-warm.log"
    echo "cold export: $(relay_of "$LC_WORK/d28-cold.log")"
    echo "warm export: $(relay_of "$LC_WORK/d28-warm.log")"
    lc_docker28 run --rm demo/app:gha
}
# What the relay said it uploaded, from a build log.
relay_of() { sed -n 's/^notice: relay: //p' "$1" | head -n 1; }
# The driver a build log says it used.
driver_of() { sed -n 's/.*driver \([a-z-]*\) (.*/\1/p' "$1" | head -n 1; }
demo_docker28

# Part 2: Engine 20.10, registry cache.
lc_start_dockerd
lc_make_base_image layercache-demo-base:latest
lc_start_registry
image=$LC_REGISTRY/demo/app:latest
export DOCKER_HOST=$LC_DOCKER_HOST

build() {
    local log=$1
    shift
    timed "$log" "$bin" build examples/demo --build-args BASE=layercache-demo-base:latest \
        --tags "$image" --cache-advice=false "$@"
}

lc_log "part 2, build 1 of 2: cold, Engine 20.10, pushed with inline cache"
build "$LC_WORK/cold.log" --push --cache-to type=inline

lc_log "deleting the image and BuildKit's build cache"
lc_docker rmi -f "$image" >/dev/null 2>&1 || true
curl -fsS --unix-socket "${LC_DOCKER_HOST#unix://}" -X POST 'http://docker/build/prune?all=1' >/dev/null

lc_log "part 2, build 2 of 2: warm, cache-from the registry"
build "$LC_WORK/warm.log" --load --cache-from "type=registry,ref=$image"
figures "registry (Engine 20.10)" "$LC_WORK/cold.log" "$LC_WORK/warm.log"
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
    timed "$log" "$bin" build examples/demo --build-args "BASE=$base" --tags demo/app:gha --load \
        --cache-advice=false --driver docker-container --builder demo-builder \
        --builder-image "$LAYERCACHE_TEST_BUILDKIT_IMAGE" --driver-opts network=host "$@"
}
lc_log "part 3, gha build 1 of 2: cold, BuildKit $LAYERCACHE_TEST_BUILDKIT_IMAGE in a container, cache-to type=gha"
gha "$LC_WORK/gha-cold.log" --cache-to type=gha,mode=max
lc_log "removing the builder container and its state (the post step)"
STATE_builder=demo-builder "$bin" post
lc_log "part 3, gha build 2 of 2: a fresh builder, cache-from type=gha"
gha "$LC_WORK/gha-warm.log" --cache-from type=gha
figures "gha (docker-container)" "$LC_WORK/gha-cold.log" "$LC_WORK/gha-warm.log"
STATE_builder=demo-builder "$bin" post
lc_docker run --rm demo/app:gha
