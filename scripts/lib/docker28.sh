# shellcheck shell=bash
# The Docker Engine GitHub's runners ship now, beside the Engine 20.10 of docker.sh: Debian
# unstable's docker.io 28 (its BuildKit exports `type=gha` cache), containerd 2 and
# docker-buildx 0.29 (the peer to compare against). They are registry packages fetched with
# a private apt sources list (the system's sources stay as they are), unpacked with
# `dpkg-deb -x` into a cache dir that later runs reuse, and run with Debian 12's runc
# (unstable's needs glibc 2.38). The daemon has its own socket, data root, exec root,
# bridge and containerd, and the containerd image store.
# Needs docker.sh (lc_pick_subnet, lc_make_base_image).

# The unpacked packages: kept across runs and work dirs. A rerun reuses them without asking
# the registry; LAYERCACHE_DOCKER28_REFRESH=1 fetches the suite's current versions again.
LC_D28_CACHE=${LAYERCACHE_DOCKER28_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/layercache/docker28}
LC_D28_ROOT=$LC_D28_CACHE/root
LC_D28_PACKAGES=(docker.io docker-cli containerd docker-buildx)
LC_D28_SUITE=unstable

# Runtime paths stay short (unix socket paths are limited to 108 bytes) and apart from the
# 20.10 daemon's /tmp/layercache-ID; state lives in the work dir.
lc_docker28_paths() {
    LC_D28_RUN=/tmp/layercache28-$(lc_work_id)
    LC_D28_SOCK=$LC_D28_RUN/docker.sock
    LC_D28_HOST=unix://$LC_D28_SOCK
    LC_D28_CONTAINERD_SOCK=$LC_D28_RUN/containerd.sock
    LC_D28_BRIDGE=lc28$(lc_work_id)
    LC_D28_STATE=$LC_WORK/docker28
    # DOCKER_CONFIG for the 28 CLI: cli-plugins/docker-buildx is the unpacked buildx.
    LC_D28_CONFIG=$LC_D28_STATE/config
    # The 28 CLI with that config; DOCKER_HOST defaults to the 28 daemon.
    LC_D28_CLI=$LC_D28_STATE/docker
}

# The private apt: a config file (read after the system's, which it leaves alone) with the
# mirror of the system's Debian sources, suite unstable, and lists and archives in the
# cache dir. Update hooks of the system's config are not run for it.
lc_docker28_apt_config() {
    local apt=$LC_D28_CACHE/apt
    cat >"$apt/unstable.sources" <<EOF || return 1
Types: deb
URIs: $(lc_docker28_mirror)
Suites: $LC_D28_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$apt/apt.conf" <<EOF
Dir::Etc::SourceList "$apt/unstable.sources";
Dir::Etc::SourceParts "/dev/null";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
APT::Sandbox::User "root";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
}

# The URI of the system's Debian mirror (deb822 or one-line sources), else deb.debian.org.
lc_docker28_mirror() {
    local uri
    uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v -- '-security' | head -n 1)
    [ -n "$uri" ] || uri=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v -- '-security' | head -n 1)
    echo "${uri:-http://deb.debian.org/debian}"
}

# Download and unpack the packages unless a previous run did. Returns non-zero (after
# saying why) when they cannot be had: the caller skips the lane. Runs as an `if`
# condition, where `set -e` is off: every step checks its own status.
lc_docker28_fetch() {
    local apt=$LC_D28_CACHE/apt log=$LC_WORK/logs/docker28-apt.log pkg deb
    local new=$LC_D28_CACHE/root.new debs=$LC_D28_CACHE/debs
    if [ -z "${LAYERCACHE_DOCKER28_REFRESH:-}" ] && [ -f "$LC_D28_ROOT/.packages" ] &&
        [ -x "$LC_D28_ROOT/usr/sbin/dockerd" ]; then
        return 0
    fi
    lc_need_root "the Docker 28 lane"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$LC_WORK/logs" || return 1
    lc_docker28_apt_config || return 1
    lc_log "apt-get update (private sources list: Debian $LC_D28_SUITE, state in $apt)"
    # apt-get update exits 0 on some download failures: its warnings say so.
    if ! apt-get -c "$apt/apt.conf" update >"$log" 2>&1 || grep -q '^[WE]: Failed to fetch' "$log"; then
        tail -n 5 "$log" >&2
        lc_log "could not fetch Debian $LC_D28_SUITE's package lists (log: $log)"
        return 1
    fi
    rm -rf "$debs" || return 1
    mkdir -p "$debs" || return 1
    lc_log "apt-get download ${LC_D28_PACKAGES[*]} (Debian $LC_D28_SUITE)"
    if ! (cd "$debs" && apt-get -c "$apt/apt.conf" download "${LC_D28_PACKAGES[@]/%//$LC_D28_SUITE}") \
        >>"$log" 2>&1; then
        tail -n 5 "$log" >&2
        lc_log "could not download ${LC_D28_PACKAGES[*]} from Debian $LC_D28_SUITE (log: $log)"
        return 1
    fi
    # Unpack beside the old tree, then swap: an interrupted run leaves the old one whole.
    rm -rf "$new" || return 1
    mkdir -p "$new" || return 1
    for pkg in "${LC_D28_PACKAGES[@]}"; do
        # shellcheck disable=SC2016 # dpkg-deb's format, not the shell's
        if ! deb=$(ls "$debs/${pkg}_"*.deb) || ! dpkg-deb -x "$deb" "$new" ||
            ! dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$new/.packages"; then
            lc_log "could not unpack $pkg from $debs"
            return 1
        fi
    done
    # Only the programs are used; the .debs are not kept.
    rm -rf "${new:?}/usr/share" "${new:?}/etc" "$LC_D28_ROOT" || return 1
    mv "$new" "$LC_D28_ROOT" || return 1
    rm -rf "$debs" "$apt/cache/archives"
}

# Make sure the packages are there, one run at a time per cache dir (test.sh and
# dev-env.sh may set up at once). A failed refresh keeps the packages unpacked before.
# Non-zero: there are none, and the lane is skipped.
lc_docker28_install() {
    mkdir -p "$LC_D28_CACHE"
    (
        flock 8
        lc_docker28_fetch && return 0
        [ -f "$LC_D28_ROOT/.packages" ] && [ -x "$LC_D28_ROOT/usr/sbin/dockerd" ] || return 1
        lc_log "keeping the Docker 28 packages unpacked before in $LC_D28_ROOT"
    ) 8>"$LC_D28_CACHE/lock"
}

lc_docker28() { DOCKER_HOST=$LC_D28_HOST DOCKER_CONFIG=$LC_D28_CONFIG "$LC_D28_ROOT/usr/bin/docker" "$@"; }

lc_start_dockerd28() {
    lc_need_root "dockerd 28"
    lc_docker28_paths
    local path=$LC_D28_ROOT/usr/bin:$LC_D28_ROOT/usr/sbin:$PATH
    mkdir -p "$LC_D28_RUN" "$LC_D28_STATE" "$LC_D28_CONFIG/cli-plugins"
    lc_on_stop "rm -rf $LC_D28_RUN"

    # containerd 2 of our own (not dockerd's managed one: this way lc_bg_stop stops it even
    # when dockerd has to be killed). No CRI, nothing under /etc, /opt or /var/lib.
    cat >"$LC_D28_STATE/containerd.toml" <<EOF
version = 3
root = "$LC_D28_STATE/containerd"
state = "$LC_D28_RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.grpc.v1.sandbox-controllers"]

[grpc]
  address = "$LC_D28_CONTAINERD_SOCK"

[debug]
  address = ""
  level = "warn"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$LC_D28_STATE/containerd-opt"
EOF
    lc_log "starting containerd $("$LC_D28_ROOT/usr/bin/containerd" --version | awk '{print $3}') on $LC_D28_CONTAINERD_SOCK"
    # PATH: containerd-shim-runc-v2 from unstable, runc from Debian 12.
    lc_bg_start containerd28 env PATH="$path" "$LC_D28_ROOT/usr/bin/containerd" \
        --config "$LC_D28_STATE/containerd.toml"
    lc_wait_for "containerd 2 (log: $LC_WORK/logs/containerd28.log)" 60 \
        "$LC_D28_ROOT/usr/bin/ctr" --address "$LC_D28_CONTAINERD_SOCK" version

    # Our own config (no /etc/docker/daemon.json) with the containerd image store.
    echo '{"features": {"containerd-snapshotter": true}}' >"$LC_D28_STATE/daemon.json"
    [ -f "$LC_D28_CONFIG/config.json" ] || echo '{}' >"$LC_D28_CONFIG/config.json"
    ln -sfn "$LC_D28_ROOT/usr/libexec/docker/cli-plugins/docker-buildx" \
        "$LC_D28_CONFIG/cli-plugins/docker-buildx"
    cat >"$LC_D28_CLI" <<EOF
#!/bin/sh
# The docker CLI 28 of the Docker 28 lane with its buildx 0.29 plugin (scripts/lib/docker28.sh).
DOCKER_HOST=\${DOCKER_HOST:-$LC_D28_HOST} DOCKER_CONFIG=\${DOCKER_CONFIG:-$LC_D28_CONFIG} exec "$LC_D28_ROOT/usr/bin/docker" "\$@"
EOF
    chmod +x "$LC_D28_CLI"
    lc_make_bridge "$LC_D28_BRIDGE"
    lc_log "starting dockerd $("$LC_D28_ROOT/usr/sbin/dockerd" --version | awk '{print $3}' | tr -d ,) on $LC_D28_HOST"
    lc_bg_start dockerd28 env PATH="$path" "$LC_D28_ROOT/usr/sbin/dockerd" \
        --config-file "$LC_D28_STATE/daemon.json" \
        --host "$LC_D28_HOST" \
        --containerd "$LC_D28_CONTAINERD_SOCK" \
        --data-root "$LC_D28_STATE/data" \
        --exec-root "$LC_D28_RUN/exec" \
        --pidfile "$LC_D28_RUN/dockerd.pid" \
        --bridge "$LC_D28_BRIDGE" \
        --iptables=false \
        --ip6tables=false \
        --ip-masq=false \
        --log-level warn
    lc_wait_for "dockerd 28 (log: $LC_WORK/logs/dockerd28.log)" 60 \
        curl -fsS --unix-socket "$LC_D28_SOCK" http://docker/_ping
}

# lc_docker28_up BASE_TAG: install (or reuse) and start the Docker 28 lane with the busybox
# base image as BASE_TAG. Returns 1, having said why, when the packages cannot be had.
lc_docker28_up() {
    lc_docker28_paths
    if ! lc_docker28_install; then
        lc_log "Docker 28 lane unavailable: Debian $LC_D28_SUITE's ${LC_D28_PACKAGES[*]} could not be had"
        return 1
    fi
    lc_log "Docker 28 lane: $(paste -sd, "$LC_D28_ROOT/.packages" | sed 's/,/, /g')"
    # Debian 12's runc: unstable's needs glibc 2.38.
    lc_apt_install runc
    lc_start_dockerd28
    lc_make_base_image "$1" lc_docker28
}
