# shellcheck shell=bash
# The Docker 28 lane: Debian unstable's docker.io 28 (BuildKit inside exports `type=gha`),
# containerd 2 and docker-buildx 0.29, beside the 20.10 daemon of 00-docker.sh, with the
# containerd image store and the same busybox base image (scripts/lib/docker28.sh).
# Exports
#   LAYERCACHE_TEST_DOCKER28_HOST        unix://... socket of that dockerd
#   LAYERCACHE_TEST_DOCKER28_BUILDX      a docker CLI 28 (wrapper script) with buildx 0.29:
#                                        DOCKER_HOST and DOCKER_CONFIG default to the lane's,
#                                        so pass DOCKER_HOST=$LAYERCACHE_TEST_DOCKER28_HOST
#                                        when the environment names another daemon
#   LAYERCACHE_TEST_DOCKER28_CONFIG      its DOCKER_CONFIG (cli-plugins/docker-buildx); a
#                                        DOCKER_CONFIG of a test's own needs that plugin too
#   LAYERCACHE_TEST_DOCKER28_BASE_IMAGE  the busybox base image's tag in that dockerd
# When Debian unstable cannot be reached (and nothing was unpacked before) the lane is
# skipped: nothing is exported and its tests say they are skipped.
# shellcheck source=../lib/docker.sh
. "$LC_REPO/scripts/lib/docker.sh"
# shellcheck source=../lib/docker28.sh
. "$LC_REPO/scripts/lib/docker28.sh"

layercache_docker28_lane() {
    if ! lc_docker28_up layercache-test-base:latest; then
        lc_log "Docker 28 lane SKIPPED: its tests are skipped"
        return 0
    fi
    export LAYERCACHE_TEST_DOCKER28_HOST=$LC_D28_HOST
    export LAYERCACHE_TEST_DOCKER28_BUILDX=$LC_D28_CLI
    export LAYERCACHE_TEST_DOCKER28_CONFIG=$LC_D28_CONFIG
    export LAYERCACHE_TEST_DOCKER28_BASE_IMAGE=layercache-test-base:latest
}
layercache_docker28_lane
