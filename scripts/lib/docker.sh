# shellcheck shell=bash
# A Docker daemon of our own: Debian's dockerd (Engine 20.10) on its own socket, data dir,
# bridge and containerd, so it never touches another daemon on the machine.

# Debian's docker CLI (docker.io, 20.10): unlike a newer CLI without the buildx plugin it
# still drives the daemon's embedded BuildKit itself (DOCKER_BUILDKIT=1).
LC_DOCKER=/usr/bin/docker

# Runtime paths stay short (unix socket paths are limited to 108 bytes), so they live in
# /tmp under the work dir's id; the image store lives in the work dir.
lc_docker_paths() {
    LC_RUN=/tmp/layercache-$(lc_work_id)
    LC_DOCKER_SOCK=$LC_RUN/docker.sock
    LC_DOCKER_HOST=unix://$LC_DOCKER_SOCK
    LC_BRIDGE=lcb$(lc_work_id)
}

lc_docker() { DOCKER_HOST=$LC_DOCKER_HOST DOCKER_CONFIG=$LC_WORK/docker-config "$LC_DOCKER" "$@"; }

# Pick a /24 for the bridge that no interface or route on this machine uses yet.
lc_pick_subnet() {
    local id n a b used
    id=$(lc_work_id)
    used=$(ip -4 -o addr show; ip -4 route show)
    for ((n = 0; n < 64; n++)); do
        a=$((200 + (16#${id:0:4} + n) % 50))
        b=$(((16#${id:4:4} + n * 7) % 256))
        grep -q " 10\.$a\.$b\." <<<" $used" || {
            echo "10.$a.$b"
            return 0
        }
    done
    lc_die "no free 10.x.y.0/24 subnet for the docker bridge"
}

# BuildKit runs RUN steps on the daemon's default bridge network ("network bridge not found"
# with --bridge=none), so the daemon gets a bridge of its own. Without iptables there is no
# NAT: containers reach each other and the host, nothing outside. lc_make_bridge NAME;
# lc_pick_subnet skips the subnets bridges made before already use.
lc_make_bridge() {
    local bridge=$1
    if ! ip link show "$bridge" >/dev/null 2>&1; then
        local net
        net=$(lc_pick_subnet)
        ip link add name "$bridge" type bridge
        ip addr add "$net.1/24" dev "$bridge"
    fi
    ip link set "$bridge" up
    lc_on_stop "ip link del $bridge"
}

lc_start_dockerd() {
    lc_need_root "dockerd"
    lc_docker_paths
    mkdir -p "$LC_RUN" "$LC_WORK/docker" "$LC_WORK/docker-config"
    # Our own empty config: no /etc/docker/daemon.json, no credential helpers from ~/.docker.
    echo '{}' >"$LC_WORK/docker/daemon.json"
    [ -f "$LC_WORK/docker-config/config.json" ] || echo '{}' >"$LC_WORK/docker-config/config.json"
    lc_make_bridge "$LC_BRIDGE"
    lc_log "starting dockerd on $LC_DOCKER_HOST"
    lc_bg_start dockerd dockerd \
        --config-file "$LC_WORK/docker/daemon.json" \
        --host "$LC_DOCKER_HOST" \
        --data-root "$LC_WORK/docker/data" \
        --exec-root "$LC_RUN/exec" \
        --pidfile "$LC_RUN/dockerd.pid" \
        --bridge "$LC_BRIDGE" \
        --iptables=false \
        --ip-masq=false \
        --log-level warn
    lc_wait_for "dockerd (log: $LC_WORK/logs/dockerd.log)" 60 \
        curl -fsS --unix-socket "$LC_DOCKER_SOCK" http://docker/_ping
    lc_on_stop "rm -rf $LC_RUN"
}

# A tiny base image from busybox-static: every test Dockerfile starts FROM it, since no
# image can be pulled here. lc_make_base_image TAG [DOCKER]: DOCKER (a command or function,
# default lc_docker) is the CLI of the daemon that gets it.
lc_make_base_image() {
    local tag=$1 docker=${2:-lc_docker} root=$LC_WORK/base-rootfs applet
    if ! /bin/busybox --list >/dev/null 2>&1; then
        lc_die "/bin/busybox (busybox-static) is missing"
    fi
    if readelf -lW /bin/busybox | grep -q 'Requesting program interpreter'; then
        lc_die "/bin/busybox is dynamically linked; install busybox-static"
    fi
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    chmod 1777 "$root/tmp"
    tar -C "$root" -c . | "$docker" import \
        --change 'CMD ["/bin/sh"]' - "$tag" >/dev/null
    rm -rf "$root"
}
