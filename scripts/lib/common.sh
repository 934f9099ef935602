# shellcheck shell=bash
# Helpers shared by scripts/test.sh, scripts/dev-env.sh and scripts/setup.d/*.sh.
#
# Conventions for a setup.d script (sourced, under `set -euo pipefail`, with this file loaded):
#   - install what is absent with `lc_apt_install PKG...` / `lc_pip_install PKG...`;
#   - start a server with `lc_bg_start NAME CMD...` (log in $LC_WORK/logs/NAME.log, pid in
#     $LC_WORK/pids/NAME.pid); it is stopped when the test command exits, or by
#     `scripts/dev-env.sh stop`;
#   - wait for it with `lc_wait_for WHAT SECONDS CMD...`;
#   - export `LAYERCACHE_TEST_*` variables for the tests;
#   - print progress with `lc_log`, stop with `lc_die`.

LC_REPO=${LC_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

lc_log() { printf '==> %s\n' "$*" >&2; }
lc_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run a command with its output in a log file; on failure show the log's tail and stop.
lc_quiet() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        lc_die "failed: $* (full log: $log)"
    fi
}

lc_need_root() {
    [ "$(id -u)" = 0 ] || lc_die "$1 needs root (it installs packages and starts dockerd)"
}

LC_APT_UPDATED=${LC_APT_UPDATED:-}
# Install Debian packages that are not installed yet; `apt-get update` runs once per run.
lc_apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    lc_need_root "installing ${missing[*]}"
    mkdir -p "$LC_WORK/logs"
    if [ -z "$LC_APT_UPDATED" ]; then
        lc_log "apt-get update"
        lc_quiet "$LC_WORK/logs/apt-update.log" apt-get update
        LC_APT_UPDATED=1
    fi
    lc_log "apt-get install ${missing[*]}"
    lc_quiet "$LC_WORK/logs/apt-install.log" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

# Install PyPI packages whose command is missing: lc_pip_install COMMAND PKG[==VERSION].
lc_pip_install() {
    local cmd=$1 spec=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    lc_log "pip install $spec"
    mkdir -p "$LC_WORK/logs"
    lc_quiet "$LC_WORK/logs/pip-$cmd.log" python3 -m pip install --quiet "$spec"
    hash -r
    command -v "$cmd" >/dev/null 2>&1 || lc_die "pip installed $spec but '$cmd' is not on PATH"
}

# A free TCP port on 127.0.0.1 (the kernel picks it; a tiny race is accepted).
lc_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Poll CMD until it succeeds, at most SECONDS: lc_wait_for WHAT SECONDS CMD...
lc_wait_for() {
    local what=$1 seconds=$2 i
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    lc_die "$what did not come up within ${seconds}s"
}

# Start a background server: lc_bg_start NAME CMD...  Its stdout/stderr go to a log file.
lc_bg_start() {
    local name=$1
    shift
    mkdir -p "$LC_WORK/pids" "$LC_WORK/logs"
    lc_bg_stop "$name"
    # setsid: the server gets no terminal signals meant for this script; we stop it by pid.
    # 9>&-: the test command's lock (fd 9) must not outlive it in a server.
    setsid "$@" </dev/null >"$LC_WORK/logs/$name.log" 2>&1 9>&- &
    echo $! >"$LC_WORK/pids/$name.pid"
}

lc_bg_alive() {
    local pidfile=$LC_WORK/pids/$1.pid pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Stop a server started by lc_bg_start (TERM, then KILL after 20 s). Quiet: the test
# runner's summary must stay the last lines of a test run.
lc_bg_stop() {
    local pidfile=$LC_WORK/pids/$1.pid pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# Stop every server of this work dir, newest first, and run the registered clean-ups.
lc_stop_all() {
    local pidfile
    if [ -d "$LC_WORK/pids" ]; then
        # shellcheck disable=SC2045 # the names are ours (NAME.pid); ls -t gives newest first
        for pidfile in $(ls -t "$LC_WORK/pids" 2>/dev/null); do
            lc_bg_stop "${pidfile%.pid}"
        done
    fi
    if [ -f "$LC_WORK/cleanup" ]; then
        # Each line is a command a setup step registered with lc_on_stop (ours only).
        tac "$LC_WORK/cleanup" | while IFS= read -r cmd; do
            bash -c "$cmd" >/dev/null 2>&1 || true
        done
        rm -f "$LC_WORK/cleanup"
    fi
}

# Register a shell command to run when the services stop (after the servers are down).
lc_on_stop() {
    mkdir -p "$LC_WORK"
    printf '%s\n' "$*" >>"$LC_WORK/cleanup"
}

# Short stable hash of the work dir: names of bridges and images that must not collide
# with another checkout's on the same machine.
lc_work_id() {
    printf '%s' "$LC_WORK" | sha256sum | cut -c1-8
}
