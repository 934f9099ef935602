# shellcheck shell=bash
# The action image from Dockerfile with a host-built static binary, at most 15 MB.
# Exports LAYERCACHE_TEST_ACTION_IMAGE (tag in the dockerd of 00-docker.sh), and
# LAYERCACHE_MOUNT_TOOL: the static binary, which cache-mount transfers copy with in the
# tests' own builds as the action image's binary does (docs/cache-mounts.md).
# shellcheck source=../lib/image.sh
. "$LC_REPO/scripts/lib/image.sh"
lc_build_action_image layercache-action:test
export LAYERCACHE_TEST_ACTION_IMAGE=layercache-action:test
export LAYERCACHE_MOUNT_TOOL=$LC_REPO/target/$LC_MUSL_TARGET/release/layercache
