# shellcheck shell=bash
# Process helpers shared by the server scripts (kafka.sh, elasticsearch.sh, prometheus.sh,
# alertmanager.sh).
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

# True when URL answers with a 2xx status within 2 s.
answers_http() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" \
            >/dev/null 2>&1
    fi
}

# await_ready PID PID_FILE LOG TIMEOUT DIR WHAT CHECK...: run CHECK until it succeeds. If the
# process exits first, or TIMEOUT seconds pass (then it is stopped with the script's `stop DIR`),
# show the end of LOG and die naming WHAT.
await_ready() {
    local pid=$1 pid_file=$2 log=$3 timeout=$4 dir=$5 what=$6
    shift 6
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if ! is_alive "$pid"; then
            rm -f "$pid_file"
            log_tail "$log"
            die "$what exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$log"
            stop "$dir"
            die "$what was not ready within ${timeout}s"
        fi
        sleep 0.05
    done
}

# stop_recorded PID_FILE GRACE OWNER: terminate the process recorded in PID_FILE (SIGTERM, then
# SIGKILL after GRACE seconds) if the script's `is_ours PID OWNER` says it is still the one that was
# started (pids get reused), then forget it.
stop_recorded() {
    local pid_file=$1 grace=$2 owner=$3 pid
    if [[ ! -f $pid_file ]]; then
        echo "[$NAME] nothing to stop (no $pid_file)"
        return 0
    fi
    pid=$(cat "$pid_file")
    if is_ours "$pid" "$owner"; then
        terminate "$pid" "$grace"
    fi
    rm -f "$pid_file"
    echo "[$NAME] stopped (pid $pid)"
}
