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

# A second docker-registry that asks for a login (htpasswd, bcrypt by apache2-utils'
# htpasswd), for the recipes that log in before pushing. The password is made fresh here:
# tests use it as a canary that must never reach a log.
lc_start_auth_registry() {
    local port dir=$LC_WORK/registry-auth user=layercache password
    lc_apt_install apache2-utils
    port=$(lc_free_port)
    mkdir -p "$dir/data"
    password=canary-$(openssl rand -hex 12)
    htpasswd -Bbc "$dir/htpasswd" "$user" "$password" 2>/dev/null
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
auth:
  htpasswd:
    realm: layercache-test
    path: $dir/htpasswd
http:
  addr: 127.0.0.1:$port
YAML
    lc_log "starting docker-registry with htpasswd auth on 127.0.0.1:$port"
    lc_bg_start registry-auth docker-registry serve "$dir/config.yml"
    # 401 until logged in: the registry is up when it answers at all.
    lc_wait_for "docker-registry with auth (log: $LC_WORK/logs/registry-auth.log)" 30 \
        sh -c "curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/v2/ | grep -q 401"
    # shellcheck disable=SC2034 # read by scripts/setup.d/05-registry.sh
    LC_AUTH_REGISTRY=127.0.0.1:$port LC_AUTH_REGISTRY_USER=$user LC_AUTH_REGISTRY_PASSWORD=$password
}
