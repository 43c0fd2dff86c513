#!/usr/bin/env bash
# Run a real Alertmanager for tests, on loopback only, without clustering.
#   scripts/alertmanager.sh start DIR PORT CONFIG   start it on 127.0.0.1:PORT, state in DIR/data;
#                                                   returns once /-/ready answers
#   scripts/alertmanager.sh stop DIR                stop the one started with DIR; waits for it to exit
# DIR also holds alertmanager.pid and alertmanager.log. Environment: ALERTMANAGER_BIN (default: the
# Debian package's prometheus-alertmanager, else alertmanager), ALERTMANAGER_START_TIMEOUT in
# seconds (default 30).
set -euo pipefail

NAME=alertmanager
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

usage() {
    echo "usage: $0 start DIR PORT CONFIG | stop DIR" >&2
    exit 2
}

binary() {
    if [[ -n ${ALERTMANAGER_BIN:-} ]]; then
        echo "$ALERTMANAGER_BIN"
    elif command -v prometheus-alertmanager >/dev/null 2>&1; then
        echo prometheus-alertmanager
    else
        echo alertmanager
    fi
}

# True while PID is alive and is the Alertmanager whose state lives in DIR, so a stale pid file
# whose number now belongs to another process never gets that process killed.
is_ours() {
    local pid=$1 dir=$2 cmdline
    is_alive "$pid" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *"--storage.path=$dir/data"* ]]
}

start() {
    local dir=$1 port=$2 config=$3
    local bin timeout=${ALERTMANAGER_START_TIMEOUT:-30}
    bin=$(binary)
    command -v "$bin" >/dev/null 2>&1 ||
        die "'$bin' not found: run 'bash scripts/setup.sh' (it installs the Debian package prometheus-alertmanager)"
    [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
    [[ -f $config ]] || die "config file not found: $config"

    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd -P) # stop matches the process by this exact path
    local pid_file="$dir/alertmanager.pid" log="$dir/alertmanager.log"
    if [[ -f $pid_file ]] && is_ours "$(cat "$pid_file")" "$dir"; then
        die "an Alertmanager started with $dir is already running (pid $(cat "$pid_file"))"
    fi

    # An empty cluster address turns gossip off: one instance, and no second port to collide on.
    "$bin" \
        --config.file="$config" \
        --storage.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" \
        --cluster.listen-address= \
        --log.level=info \
        >"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pid_file"

    local url="http://127.0.0.1:$port"
    await_ready "$pid" "$pid_file" "$log" "$timeout" "$dir" \
        "Alertmanager on port $port (config $config)" answers_http "$url/-/ready"
    echo "[alertmanager] ready at $url (pid $pid, state in $dir/data)"
}

stop() {
    local dir=$1
    [[ -d $dir ]] && dir=$(cd "$dir" && pwd -P)
    stop_recorded "$dir/alertmanager.pid" 10 "$dir"
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
