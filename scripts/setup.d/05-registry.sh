# shellcheck shell=bash
# A registry on a loopback port. Exports LAYERCACHE_TEST_REGISTRY (127.0.0.1:PORT).
# shellcheck source=../lib/registry.sh
. "$LC_REPO/scripts/lib/registry.sh"
lc_start_registry
export LAYERCACHE_TEST_REGISTRY=$LC_REGISTRY
