# Sourced by scripts/test.sh: install the official @actions/cache client (pinned by
# tests/js/package-lock.json) for tests/cache_service_js.rs. Idempotent.
# Also installs azurite (Microsoft's Azure Storage emulator, pinned to 3.35.0, the last
# release that runs on Node 20) for tests/cache_service_azure.rs.
# Exports LAYERCACHE_TEST_ACTIONS_CACHE_JS (the driver script the tests run with node) and
# LAYERCACHE_TEST_AZURITE_BLOB (azurite's blob server; tests start their own instance).
layercache_serve_npm() {
    local root js
    root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)" || return 1
    js="$root/tests/js"
    command -v node >/dev/null || { echo "setup: node is required for tests/js" >&2; return 1; }
    if [ ! -f "$js/node_modules/@actions/cache/package.json" ] ||
        [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
        (cd "$js" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    fi
    export LAYERCACHE_TEST_ACTIONS_CACHE_JS="$js/cache.mjs"
    export LAYERCACHE_TEST_AZURITE_BLOB="$js/node_modules/.bin/azurite-blob"
}
layercache_serve_npm
