# shellcheck shell=bash
# dockerd of our own + the busybox base image. Exports LAYERCACHE_TEST_DOCKER_HOST and
# LAYERCACHE_TEST_BASE_IMAGE.
# shellcheck source=../lib/docker.sh
. "$LC_REPO/scripts/lib/docker.sh"
lc_start_dockerd
lc_make_base_image layercache-test-base:latest
export LAYERCACHE_TEST_DOCKER_HOST=$LC_DOCKER_HOST
export LAYERCACHE_TEST_BASE_IMAGE=layercache-test-base:latest
