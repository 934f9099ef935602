#!/usr/bin/env bash
# Start the test services for a developer and print the variables the tests read:
#
#   eval "$(scripts/dev-env.sh)"      # start (or restart) them, export LAYERCACHE_TEST_*
#   cargo nextest run --test action_image
#   scripts/dev-env.sh stop           # stop them
#
# Same set-up as scripts/test.sh (scripts/setup.d/*.sh), state in .work/dev, so it runs
# beside a test run without sharing anything with it.
set -euo pipefail

LC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LC_WORK=${LAYERCACHE_WORK:-$LC_REPO/.work/dev}
export LC_REPO LC_WORK
# shellcheck source=lib/common.sh
. "$LC_REPO/scripts/lib/common.sh"
# shellcheck source=lib/install.sh
. "$LC_REPO/scripts/lib/install.sh"

case "${1:-start}" in
stop)
    lc_stop_all
    lc_log "stopped the services of $LC_WORK"
    exit 0
    ;;
start) ;;
*) lc_die "usage: scripts/dev-env.sh [start|stop]" ;;
esac

# stdout carries only the export lines (for eval); everything else goes to stderr.
exec 3>&1 1>&2
mkdir -p "$LC_WORK"
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; [ "$rc" -eq 0 ] || lc_stop_all; exit "$rc"' EXIT
cd "$LC_REPO"
lc_install_tools
lc_stop_all
for script in "$LC_REPO"/scripts/setup.d/*.sh; do
    lc_log "setup: ${script#"$LC_REPO"/}"
    # fd 3 is the caller's $(...): services started here must not hold it open.
    # shellcheck source=/dev/null
    . "$script" 3>&-
done
{
    env | grep '^LAYERCACHE_TEST_' | sort | while IFS='=' read -r name value; do
        printf 'export %s=%q\n' "$name" "$value"
    done
    printf 'export DOCKER_HOST=%q\n' "$LAYERCACHE_TEST_DOCKER_HOST"
} | tee "$LC_WORK/env.sh" >&3
lc_log "services are up; stop them with: scripts/dev-env.sh stop"
