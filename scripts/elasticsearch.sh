#!/usr/bin/env bash
# Run an Elasticsearch-8-API server (noida-db, a local binary shipped in the noida-db wheel) for
# tests and the demo, on loopback only.
#   scripts/elasticsearch.sh start DIR PORT   start it on 127.0.0.1:PORT, data in DIR/data;
#                                             returns once GET / answers
#   scripts/elasticsearch.sh stop DIR         stop the one started with DIR; waits for it to exit
# DIR also holds noida-db.pid and noida-db.log. Starting again on the same DIR keeps the data.
# Environment: NOIDA_DB_BIN (the server binary itself; default: the one inside the noida_db
# package of NOIDA_DB_PYTHON, default .venv/bin/python), ELASTICSEARCH_START_TIMEOUT in seconds
# (default 30).
#
# noida-db keeps its store in memory and writes it to DIR/data about once a second and on SIGTERM,
# so stop sends SIGTERM and waits: a SIGKILL can lose the last second of writes.
set -euo pipefail

NAME=elasticsearch
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

usage() {
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
}

# The binary, not the pip console script: that script is a Python wrapper that runs the binary
# as a child, so killing the wrapper's pid would leave the server running.
resolve_binary() {
    if [[ -n ${NOIDA_DB_BIN:-} ]]; then
        [[ -x $NOIDA_DB_BIN ]] || die "NOIDA_DB_BIN=$NOIDA_DB_BIN is not an executable file"
        echo "$NOIDA_DB_BIN"
        return
    fi
    local python=${NOIDA_DB_PYTHON:-$REPO_ROOT/.venv/bin/python} binary
    [[ -x $python ]] || python=python3
    binary=$("$python" -c 'from importlib.resources import files; print(files("noida_db") / "noida-db")' \
        2>/dev/null) ||
        die "the Python package noida-db is not installed for $python: run 'bash scripts/setup.sh'" \
            "(it installs the dev extras, which pin noida-db)"
    [[ -f $binary ]] || die "noida-db package found but its binary is missing: $binary"
    [[ -x $binary ]] || chmod +x "$binary" # the wheel's own wrapper does the same before running it
    echo "$binary"
}

# True while PID is alive and is the noida-db serving DIR/data, so a stale pid file whose number
# now belongs to another process never gets that process killed.
is_ours() {
    local pid=$1 dir=$2 cmdline
    is_alive "$pid" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *"--data-dir $dir/data "* ]]
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local dir=$1 port=$2
    local timeout=${ELASTICSEARCH_START_TIMEOUT:-30}
    [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
    local binary
    binary=$(resolve_binary)
    # Checked first because the readiness probe below cannot tell our server from another one
    # already on the port (noida-db itself would exit with "port ... is already in use").
    port_taken "$port" && die "port $port is already in use on 127.0.0.1"

    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd -P) # stop matches the process by this exact path
    local pid_file="$dir/noida-db.pid" log="$dir/noida-db.log"
    if [[ -f $pid_file ]] && is_ours "$(cat "$pid_file")" "$dir"; then
        die "a noida-db started with $dir is already running (pid $(cat "$pid_file"))"
    fi

    # Append, so the log of a restart on the same DIR keeps what the previous run said.
    "$binary" start \
        --data-dir "$dir/data" \
        --host 127.0.0.1 \
        --only elasticsearch \
        --elasticsearch-port "$port" \
        >>"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pid_file"

    local url="http://127.0.0.1:$port"
    await_ready "$pid" "$pid_file" "$log" "$timeout" "$dir" \
        "noida-db on port $port (data in $dir/data)" answers_http "$url/"
    echo "[elasticsearch] ready at $url (pid $pid, data in $dir/data)"
}

stop() {
    local dir=$1
    [[ -d $dir ]] && dir=$(cd "$dir" && pwd -P)
    # SIGTERM makes noida-db write its store; give it time before resorting to SIGKILL.
    stop_recorded "$dir/noida-db.pid" 5 "$dir"
}

case ${1:-} in
start)
    (($# == 3)) || usage
    start "$2" "$3"
    ;;
stop)
    (($# == 2)) || usage
    stop "$2"
    ;;
*) usage ;;
esac
