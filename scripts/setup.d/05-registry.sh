# shellcheck shell=bash
# A registry on a loopback port. Exports LAYERCACHE_TEST_REGISTRY (127.0.0.1:PORT).
# shellcheck source=../lib/registry.sh
. "$LC_REPO/scripts/lib/registry.sh"
lc_start_registry
export LAYERCACHE_TEST_REGISTRY=$LC_REGISTRY
# And one that needs a login: LAYERCACHE_TEST_AUTH_REGISTRY{,_USER,_PASSWORD}.
lc_start_auth_registry
export LAYERCACHE_TEST_AUTH_REGISTRY=$LC_AUTH_REGISTRY
export LAYERCACHE_TEST_AUTH_REGISTRY_USER=$LC_AUTH_REGISTRY_USER
export LAYERCACHE_TEST_AUTH_REGISTRY_PASSWORD=$LC_AUTH_REGISTRY_PASSWORD
