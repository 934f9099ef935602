#!/usr/bin/env bash
# `layercache-bench project` on the Docker 28 lane (README § Benchmarks):
#
#   eval "$(scripts/dev-env.sh)"        # the lanes: Docker 28 + a registry on loopback
#   scripts/bench-project.sh [ARGS...]  # ARGS go to `layercache-bench project`
#
# Makes the bookworm + python3-pip base image with debootstrap (never pulled) and the
# wheels with pip download, both once and cached under ~/.cache/layercache/pybench
# (scripts/lib/pybench.sh); imports the image into the lane's daemon and pushes it to the
# lane's registry (each build starts without it and pulls it, as a hosted runner pulls its
# base image); builds layercache and layercache-bench with the bench-fast profile and runs
# the bench.
set -euo pipefail

LC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LC_WORK=${LAYERCACHE_WORK:-$LC_REPO/.work/dev}
export LC_REPO LC_WORK
# shellcheck source=lib/common.sh
. "$LC_REPO/scripts/lib/common.sh"
# shellcheck source=lib/docker28.sh
. "$LC_REPO/scripts/lib/docker28.sh"
# shellcheck source=lib/pybench.sh
. "$LC_REPO/scripts/lib/pybench.sh"

: "${LAYERCACHE_TEST_DOCKER28_HOST:?start the lanes first: eval \"\$(scripts/dev-env.sh)\"}"
: "${LAYERCACHE_TEST_DOCKER28_BUILDX:?start the lanes first}"
: "${LAYERCACHE_TEST_REGISTRY:?start the lanes first}"

docker28() { DOCKER_HOST=$LAYERCACHE_TEST_DOCKER28_HOST "$LAYERCACHE_TEST_DOCKER28_BUILDX" "$@"; }
image=$LAYERCACHE_TEST_REGISTRY/layercache-bench/bookworm-python3-pip:1
wheels=$(lc_pybench_wheels)
lc_pybench_import docker28 "$image"
lc_log "pushing $image to the lane's registry"
lc_quiet "$LC_WORK/logs/pybench-push.log" docker28 push "$image"

profile=${LAYERCACHE_BENCH_PROFILE:-bench-fast}
lc_log "cargo build --profile $profile (layercache, layercache-bench)"
(cd "$LC_REPO" && cargo build --quiet --locked --profile "$profile" \
    --bin layercache --bin layercache-bench)
dir=$LC_REPO/target/$profile
[ "$profile" = dev ] && dir=$LC_REPO/target/debug
# Cache-mount copies need a static layercache (docs/cache-mounts.md § Transfers); the
# bench-fast build is linked dynamically.
if [ -z "${LAYERCACHE_MOUNT_TOOL:-}" ]; then
    LAYERCACHE_MOUNT_TOOL=$LC_REPO/target/x86_64-unknown-linux-musl/release/layercache
    [ -x "$LAYERCACHE_MOUNT_TOOL" ] || lc_die "set LAYERCACHE_MOUNT_TOOL to a static layercache \
(cargo build --release --target x86_64-unknown-linux-musl)"
    export LAYERCACHE_MOUNT_TOOL
fi
exec "$dir/layercache-bench" project --base-image "$image" --wheels "$wheels" "$@"
