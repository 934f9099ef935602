# shellcheck shell=bash
# Debian's docker-registry (distribution 2.8) on a free loopback port, storage in the work
# dir. Docker treats 127.0.0.1:PORT as a plain-HTTP registry without configuration.

lc_start_registry() {
    local port dir=$LC_WORK/registry
    port=$(lc_free_port)
    mkdir -p "$dir/data"
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
    lc_log "starting docker-registry on 127.0.0.1:$port"
    lc_bg_start registry docker-registry serve "$dir/config.yml"
    lc_wait_for "docker-registry (log: $LC_WORK/logs/registry.log)" 30 \
        curl -fsS "http://127.0.0.1:$port/v2/"
    # shellcheck disable=SC2034 # read by scripts/setup.d/05-registry.sh
    LC_REGISTRY=127.0.0.1:$port
}
