# shellcheck shell=bash
# The action image, built here the way the release builds it: a static musl binary compiled
# on the host, then the Dockerfile's final stage with BINARY_FROM=prebuilt (no base image is
# pulled: the final stage is FROM scratch).

LC_IMAGE_MAX_BYTES=15000000

# A static executable has no program interpreter and needs no shared library (glibc's
# ldd cannot tell: it answers "statically linked" with success for static-pie).
lc_is_static() {
    ! readelf -lW "$1" | grep -q 'Requesting program interpreter' &&
        ! readelf -dW "$1" | grep -q '(NEEDED)'
}

# lc_build_action_image TAG: build, check the size, set LC_IMAGE_BYTES.
lc_build_action_image() {
    local tag=$1 ctx=$LC_WORK/image-context bin
    lc_log "building the static binary (cargo build --release --target $LC_MUSL_TARGET)"
    lc_quiet "$LC_WORK/logs/musl-build.log" \
        cargo build --manifest-path "$LC_REPO/Cargo.toml" --release --locked \
        --target "$LC_MUSL_TARGET" --bin layercache
    bin=$LC_REPO/target/$LC_MUSL_TARGET/release/layercache
    lc_is_static "$bin" || lc_die "$bin is not statically linked"
    rm -rf "$ctx"
    mkdir -p "$ctx/dist/linux/amd64"
    cp "$bin" "$ctx/dist/linux/amd64/layercache"
    # action.yml's post-entrypoint; the binary picks the post step by its name.
    ln -s layercache "$ctx/dist/linux/amd64/layercache-post"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/dist/ca-certificates.crt"
    lc_log "building the action image $tag from Dockerfile (BINARY_FROM=prebuilt)"
    # The Dockerfile comes from the repo, the context holds only dist/. BuildKit skips the
    # compile stages, which would need a Rust image from the internet.
    lc_quiet "$LC_WORK/logs/image-build.log" env DOCKER_BUILDKIT=1 \
        DOCKER_HOST="$LC_DOCKER_HOST" DOCKER_CONFIG="$LC_WORK/docker-config" \
        "$LC_DOCKER" build --progress=plain --file "$LC_REPO/Dockerfile" \
        --build-arg BINARY_FROM=prebuilt --target image --tag "$tag" "$ctx"
    LC_IMAGE_BYTES=$(lc_docker image inspect --format '{{.Size}}' "$tag")
    lc_log "action image $tag: $LC_IMAGE_BYTES bytes (binary $(stat -c %s "$bin") bytes)"
    [ "$LC_IMAGE_BYTES" -le "$LC_IMAGE_MAX_BYTES" ] ||
        lc_die "action image is $LC_IMAGE_BYTES bytes, over the $LC_IMAGE_MAX_BYTES-byte limit"
}
