#!/usr/bin/env bash
# Install what the tests need (Debian packages, the musl target, PyPI tools) when absent.
# scripts/test.sh and scripts/dev-env.sh run this themselves; it is here on its own for a
# machine that should be prepared ahead of time.
set -euo pipefail
LC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LC_WORK=${LC_WORK:-$LC_REPO/.work/setup}
# shellcheck source=lib/common.sh
. "$LC_REPO/scripts/lib/common.sh"
# shellcheck source=lib/install.sh
. "$LC_REPO/scripts/lib/install.sh"
lc_install_tools
lc_log "tools installed"
