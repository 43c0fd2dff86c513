# shellcheck shell=bash
# Process helpers shared by the test-server scripts (kafka.sh, elasticsearch.sh, prometheus.sh).
# Source it after setting NAME (the prefix of messages, e.g. "kafka").

die() {
    printf '[%s] ERROR: %s\n' "$NAME" "$*" >&2
    exit 1
}

# True while PID is a live process; a zombie (exited, not yet reaped) counts as gone.
is_alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 0
    [[ $state != Z ]]
}

log_tail() {
    echo "--- last lines of $1 ---" >&2
    tail -n 30 "$1" >&2 || true
}

# terminate PID GRACE_SECONDS: SIGTERM, wait up to GRACE_SECONDS, then SIGKILL; returns once
# the process is gone, so its port can be reused right away.
terminate() {
    local pid=$1 grace=$2 deadline
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while is_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if is_alive "$pid"; then
        echo "[$NAME] pid $pid ignored SIGTERM for ${grace}s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        while is_alive "$pid"; do sleep 0.05; done
    fi
}
