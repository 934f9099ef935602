#!/usr/bin/env bash
# The test command: installs what is absent, starts a Docker daemon, a registry and
# whatever scripts/setup.d/*.sh add, then runs fmt, clippy, the action.yml schema check and
# the whole test suite. Stops everything it started on exit. Needs root on Debian 12.
#
#   scripts/test.sh [nextest args...]     e.g. scripts/test.sh --test action_image
#
# State lives in .work/test (gitignored); logs of every service in .work/test/logs.
set -euo pipefail

LC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LC_WORK=${LAYERCACHE_WORK:-$LC_REPO/.work/test}
export LC_REPO LC_WORK
# shellcheck source=lib/common.sh
. "$LC_REPO/scripts/lib/common.sh"
# shellcheck source=lib/install.sh
. "$LC_REPO/scripts/lib/install.sh"

# shellcheck disable=SC2317 # called by the EXIT trap
on_exit() {
    local rc=$?
    lc_stop_all
    # Anything a setup.d script left running in the background without lc_bg_start.
    local pids
    pids=$(jobs -p)
    # shellcheck disable=SC2086 # one pid per word
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    exit "$rc"
}

# Everything runs inside main, which bash parses whole before running: editing this file
# during a run cannot change what the run does.
main() {
    mkdir -p "$LC_WORK"
    # One run per work dir at a time: a second run would stop the first one's daemon.
    exec 9>"$LC_WORK/lock"
    flock -n 9 || lc_die "another scripts/test.sh is running with $LC_WORK"

    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    cd "$LC_REPO"
    started=$SECONDS
    phase() { lc_log "[$((SECONDS - started))s] $*"; }

    phase "installing what is absent"
    lc_install_tools

    phase "cargo fmt --all -- --check"
    cargo fmt --all -- --check

    # A run that crashed may have left services behind; start from a clean slate.
    lc_stop_all
    for script in "$LC_REPO"/scripts/setup.d/*.sh; do
        phase "setup: ${script#"$LC_REPO"/}"
        # shellcheck source=/dev/null
        . "$script"
    done
    cd "$LC_REPO" # in case a setup script changed directory
    env | grep '^LAYERCACHE_TEST_' | sort >&2

    phase "cargo clippy --all-targets --locked -- -D warnings"
    cargo clippy --all-targets --locked -- -D warnings

    actions=()
    for file in action.yml expose-runtime/action.yml; do
        [ -f "$file" ] && actions+=("$file")
    done
    if [ ${#actions[@]} -gt 0 ]; then
        phase "check-jsonschema --builtin-schema vendor.github-actions ${actions[*]}"
        check-jsonschema --builtin-schema vendor.github-actions "${actions[@]}"
    fi

    workflows=(.github/workflows/*.yml)
    if [ -e "${workflows[0]}" ]; then
        phase "check-jsonschema --builtin-schema vendor.github-workflows ${workflows[*]}"
        check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
    fi

    # Tests that need a lane this machine lacks are named for it (buildkit_lane_*,
    # docker28_lane_*) and filtered out, so nextest counts them as skipped, not passed.
    local absent=()
    [ -n "${LAYERCACHE_TEST_BUILDKIT_ADDR:-}" ] || absent+=("test(/(^|::)buildkit_lane_/)")
    [ -n "${LAYERCACHE_TEST_DOCKER28_HOST:-}" ] || absent+=("test(/(^|::)docker28_lane_/)")
    local filter=()
    if [ ${#absent[@]} -gt 0 ]; then
        local joined
        joined=$(printf ' | %s' "${absent[@]}")
        filter=(-E "not (${joined:3})")
        lc_log "no lane for: ${absent[*]}: those tests are skipped"
    fi

    phase "cargo nextest run --locked ${filter[*]}"
    # nextest exits non-zero when a test fails and (exit 4) when no test ran at all; both fail
    # this script. Its summary line is the last thing printed: the clean-up is quiet.
    cargo nextest run --locked --no-fail-fast "${filter[@]}" "$@"
}

main "$@"
exit
