# Sourced by scripts/test.sh: moto's S3 server (from PyPI) for the S3 storage backend tests.
# Idempotent: reuses a moto_server this script started earlier if it still answers.
# Exports LAYERCACHE_TEST_S3_ENDPOINT (http://127.0.0.1:PORT), plus dummy AWS credentials
# in LAYERCACHE_TEST_S3_ACCESS_KEY_ID / LAYERCACHE_TEST_S3_SECRET_ACCESS_KEY.
layercache_serve_moto() {
    local state_dir port pidfile logfile
    state_dir="${TMPDIR:-/tmp}/layercache-moto"
    pidfile="$state_dir/pid"
    logfile="$state_dir/log"
    mkdir -p "$state_dir"
    if ! python3 -c 'import moto.server, flask, flask_cors' 2>/dev/null; then
        python3 -m pip install --quiet 'moto[server]' || return 1
    fi
    if [ -f "$state_dir/port" ] && [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
        curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$state_dir/port")/moto-api/" 2>/dev/null; then
        port="$(cat "$state_dir/port")"
    else
        port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
        nohup python3 -m moto.server -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
        echo $! >"$pidfile"
        echo "$port" >"$state_dir/port"
        local i
        for i in $(seq 1 100); do
            curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null && break
            sleep 0.1
        done
    fi
    export LAYERCACHE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export LAYERCACHE_TEST_S3_ACCESS_KEY_ID="testing"
    export LAYERCACHE_TEST_S3_SECRET_ACCESS_KEY="testing"
}
layercache_serve_moto
