# shellcheck shell=bash
# The newest-BuildKit test lane, when this machine provides one. Nothing is built here:
# a lane is a directory (LAYERCACHE_BUILDKIT_LANE, default /opt/layercache-lane) that
# already holds
#   bin/buildkitd, bin/buildctl   a BuildKit release's daemon and client, and
#   buildkit-image.tar            `docker save` of an image with them (entrypoint buildkitd).
# When it is there, the image is loaded into the test dockerd (for the docker-container
# driver) and buildkitd runs on a loopback port (for the remote driver). Exports
#   LAYERCACHE_TEST_BUILDKIT_ADDR   tcp://127.0.0.1:PORT of that buildkitd
#   LAYERCACHE_TEST_BUILDKIT_IMAGE  the image's tag in the test dockerd
# Without a lane the tests that need one say they are skipped.
layercache_buildkit_lane() {
    local lane=${LAYERCACHE_BUILDKIT_LANE:-/opt/layercache-lane} port image
    if [ ! -x "$lane/bin/buildkitd" ] || [ ! -f "$lane/buildkit-image.tar" ]; then
        lc_log "no newest-BuildKit lane in $lane (bin/buildkitd, buildkit-image.tar): its tests are skipped"
        return 0
    fi
    # buildkitd's OCI worker runs RUN steps with runc.
    lc_apt_install runc
    image=$(lc_docker load -i "$lane/buildkit-image.tar" | sed -n 's/^Loaded image: //p' | tail -n 1)
    [ -n "$image" ] || lc_die "docker load of $lane/buildkit-image.tar named no image"
    port=$(lc_free_port)
    mkdir -p "$LC_WORK/buildkit-lane"
    lc_log "starting buildkitd ($("$lane/bin/buildkitd" --version)) on 127.0.0.1:$port"
    lc_bg_start buildkitd "$lane/bin/buildkitd" \
        --addr "tcp://127.0.0.1:$port" \
        --root "$LC_WORK/buildkit-lane" \
        --oci-worker-gc=false
    lc_wait_for "buildkitd (log: $LC_WORK/logs/buildkitd.log)" 60 \
        "$lane/bin/buildctl" --addr "tcp://127.0.0.1:$port" debug workers
    export LAYERCACHE_TEST_BUILDKIT_ADDR=tcp://127.0.0.1:$port
    export LAYERCACHE_TEST_BUILDKIT_IMAGE=$image
}
layercache_buildkit_lane
