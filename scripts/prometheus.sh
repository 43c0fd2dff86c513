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

answers_ready() {
    local url=$1
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" \
            >/dev/null 2>&1
    fi
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
    local deadline=$((SECONDS + timeout))
    until answers_ready "$url/-/ready"; do
        if ! is_alive "$pid"; then
            rm -f "$pid_file"
            log_tail "$log"
            die "Prometheus exited during start-up (port $port, config $config)"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$log"
            stop "$dir"
            die "Prometheus did not answer $url/-/ready within ${timeout}s"
        fi
        sleep 0.1
    done
    echo "[prometheus] ready at $url (pid $pid, data in $dir/data)"
}

stop() {
    local dir=$1
    [[ -d $dir ]] && dir=$(cd "$dir" && pwd -P)
    local pid_file="$dir/prometheus.pid"
    if [[ ! -f $pid_file ]]; then
        echo "[prometheus] nothing to stop in $dir (no pid file)"
        return 0
    fi
    local pid
    pid=$(cat "$pid_file")
    if is_ours "$pid" "$dir"; then
        # Prometheus flushes its head block on SIGTERM; give it a moment before SIGKILL.
        terminate "$pid" 10
    fi
    rm -f "$pid_file"
    echo "[prometheus] stopped (pid $pid)"
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
