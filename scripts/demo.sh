#!/usr/bin/env bash
# The main job, end to end on this machine: build examples/demo with layercache twice.
#
#   1. cold: build, push to a loopback registry with inline cache metadata;
#   2. the image and BuildKit's whole build cache are deleted;
#   3. warm: build again with cache-from type=registry: every step comes from cache.
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
