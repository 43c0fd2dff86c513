#!/usr/bin/env bash
# Run a real Prometheus for tests and the demo, on loopback only.
#   scripts/prometheus.sh start DIR PORT CONFIG   start it on 127.0.0.1:PORT, data in DIR/data;
#                                                 returns once /-/ready answers
#   scripts/prometheus.sh stop DIR                stop the one started with DIR; waits for it to exit
# DIR also holds prometheus.pid and prometheus.log. Environment: PROMETHEUS_BIN (default
# prometheus), PROMETHEUS_START_TIMEOUT in seconds (default 30).
set -euo pipefail

NAME=prometheus
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

usage() {
    echo "usage: $0 start DIR PORT CONFIG | stop DIR" >&2
    exit 2
}

# True while PID is alive and is the Prometheus whose data lives in DIR, so a stale pid file
# whose number now belongs to another process never gets that process killed.
is_ours() {
    local pid=$1 dir=$2 cmdline
    is_alive "$pid" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *"--storage.tsdb.path=$dir/data"* ]]
}

start() {
    local dir=$1 port=$2 config=$3
    local binary=${PROMETHEUS_BIN:-prometheus}
    local timeout=${PROMETHEUS_START_TIMEOUT:-30}
    command -v "$binary" >/dev/null 2>&1 ||
        die "'$binary' not found: run 'bash scripts/setup.sh' (it installs the Debian package prometheus)"
    [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
    [[ -f $config ]] || die "config file not found: $config"

    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd -P) # stop matches the process by this exact path
    local pid_file="$dir/prometheus.pid" log="$dir/prometheus.log"
    if [[ -f $pid_file ]] && is_ours "$(cat "$pid_file")" "$dir"; then
        die "a Prometheus started with $dir is already running (pid $(cat "$pid_file"))"
    fi

    # Lifecycle API on, so a test can POST /-/reload after rewriting rule files.
    "$binary" \
        --config.file="$config" \
        --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" \
        --web.enable-lifecycle \
        --log.level=info \
        >"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pid_file"

    local url="http://127.0.0.1:$port"
    await_ready "$pid" "$pid_file" "$log" "$timeout" "$dir" \
        "Prometheus on port $port (config $config)" answers_http "$url/-/ready"
    echo "[prometheus] ready at $url (pid $pid, data in $dir/data)"
}

stop() {
    local dir=$1
    [[ -d $dir ]] && dir=$(cd "$dir" && pwd -P)
    # Prometheus flushes its head block on SIGTERM; give it a moment before SIGKILL.
    stop_recorded "$dir/prometheus.pid" 10 "$dir"
}

case ${1:-} in
start)
    (($# == 4)) || usage
    start "$2" "$3" "$4"
    ;;
stop)
    (($# == 2)) || usage
    stop "$2"
    ;;
*) usage ;;
esac
