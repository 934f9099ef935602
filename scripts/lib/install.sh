# shellcheck shell=bash
# What the test command needs on a fresh Debian 12 machine, installed only when absent.

LC_MUSL_TARGET=x86_64-unknown-linux-musl
LC_CHECK_JSONSCHEMA=check-jsonschema==0.39.0

lc_install_tools() {
    # docker.io: dockerd 20.10 + containerd + runc, and the 20.10 CLI that still speaks
    # BuildKit without buildx. busybox-static: the base image. musl-tools: musl-gcc for the
    # C parts (ring) of the static binary. openssh-client: a real ssh-agent for the ssh
    # forwarding test. git: the daemon's BuildKit clones Git contexts with the host's git
    # (tests/action_git_auth.rs). time: GNU time, the CPU and memory of the clients that
    # `layercache-bench engine --buildx` compares.
    lc_apt_install docker.io docker-registry busybox-static musl-tools binutils iproute2 curl openssl \
        ca-certificates openssh-client git time
    local component
    for component in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$component" || {
            lc_log "rustup component add $component"
            rustup component add "$component" >&2
        }
    done
    rustup target list --installed | grep -qx "$LC_MUSL_TARGET" || {
        lc_log "rustup target add $LC_MUSL_TARGET"
        rustup target add "$LC_MUSL_TARGET" >&2
    }
    command -v cargo-nextest >/dev/null 2>&1 || {
        lc_log "cargo install cargo-nextest"
        cargo install --locked cargo-nextest >&2
    }
    lc_pip_install check-jsonschema "$LC_CHECK_JSONSCHEMA"
}
