# Sourced by scripts/test.sh: install the official @actions/cache client (pinned by
# tests/js/package-lock.json) for tests/cache_service_js.rs. Idempotent.
# Exports LAYERCACHE_TEST_ACTIONS_CACHE_JS (the driver script the tests run with node).
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
}
layercache_serve_npm
