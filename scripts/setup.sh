#!/usr/bin/env bash
# Prepare this checkout for the demo and the tests on a fresh machine, and do nothing slow when
# that is already done:
#   1. the Debian packages the integration tests run (Prometheus, Alertmanager and their tools;
#      Chromium, which the status-page test drives through Playwright);
#   2. the project-local virtualenv .venv (the machine's python3, 3.11 or newer);
#   3. the project installed editable with its dev extras, pinned by requirements-lock.txt.
# Safe to run again: each step checks first. Set DRIFTLINE_SKIP_APT=1 to skip step 1.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

say() { printf '[setup] %s\n' "$*"; }
die() {
    printf '[setup] ERROR: %s\n' "$*" >&2
    exit 1
}

started_at=$SECONDS
VENV=.venv
STAMP="$VENV/.driftline-setup.stamp"
PYTHON=${PYTHON:-python3}

# Debian package -> the commands the tests need from it. Alertmanager's binary is called
# prometheus-alertmanager in Debian and alertmanager upstream; either will do.
declare -A PACKAGE_COMMANDS=(
    [prometheus]="prometheus promtool"
    [prometheus-alertmanager]="prometheus-alertmanager|alertmanager amtool"
    [chromium]="chromium"
)
# The services those packages would start on a systemd machine (they grab ports 9090 and 9093);
# packages without a service (chromium) have no entry.
declare -A PACKAGE_SERVICES=(
    [prometheus]=prometheus
    [prometheus-alertmanager]=prometheus-alertmanager
)

has_any_command() {
    local alternative
    for alternative in ${1//|/ }; do
        command -v "$alternative" >/dev/null 2>&1 && return 0
    done
    return 1
}

package_is_missing() {
    local required
    for required in ${PACKAGE_COMMANDS[$1]}; do
        has_any_command "$required" || return 0
    done
    return 1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo DEBIAN_FRONTEND=noninteractive "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

systemd_is_running() { [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; }

# A package's post-install script may start its service. The tests start their own servers on
# free ports and never use these, so stop the ones this install started (and only those).
stop_services_started_by_install() {
    systemd_is_running || return 0
    local package service
    for package in "$@"; do
        service=${PACKAGE_SERVICES[$package]:-}
        [[ -n $service ]] || continue
        if systemctl is-active --quiet "$service"; then
            say "stopping and disabling the $service service the package install started"
            as_root systemctl stop "$service"
            as_root systemctl disable --quiet "$service" || true
        fi
    done
}

install_system_packages() {
    if [[ ${DRIFTLINE_SKIP_APT:-0} == 1 ]]; then
        say "system packages: skipped (DRIFTLINE_SKIP_APT=1)"
        return
    fi
    local package missing=()
    for package in "${!PACKAGE_COMMANDS[@]}"; do
        package_is_missing "$package" && missing+=("$package")
    done
    if ((${#missing[@]} == 0)); then
        say "system packages: already installed (prometheus, promtool, alertmanager, amtool, chromium)"
        return
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get here: install them with your package manager"

    local already_active=()
    if systemd_is_running; then
        for package in "${missing[@]}"; do
            [[ -n ${PACKAGE_SERVICES[$package]:-} ]] || continue
            systemctl is-active --quiet "${PACKAGE_SERVICES[$package]}" && already_active+=("$package")
        done
    fi

    local t0=$SECONDS
    say "system packages: installing ${missing[*]} (apt-get update first)"
    as_root apt-get update -q || die "apt-get update failed"
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        die "apt-get install ${missing[*]} failed"
    for package in "${missing[@]}"; do
        package_is_missing "$package" && die "installed $package but its commands are still not on PATH"
    done
    local newly_started=()
    for package in "${missing[@]}"; do
        [[ " ${already_active[*]} " == *" $package "* ]] || newly_started+=("$package")
    done
    stop_services_started_by_install "${newly_started[@]}"
    say "system packages: installed in $((SECONDS - t0))s"
}

python_is_usable() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

create_venv() {
    if [[ -x $VENV/bin/python ]] && python_is_usable "$VENV/bin/python"; then
        say "virtualenv: $VENV exists"
        return
    fi
    if [[ -e $VENV ]]; then
        say "virtualenv: $VENV is broken or too old; recreating it"
        rm -rf "$VENV"
    fi
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: driftline needs Python 3.11 or newer"
    python_is_usable "$PYTHON" ||
        die "$PYTHON is $("$PYTHON" --version 2>&1); driftline needs Python 3.11 or newer (set PYTHON=...)"
    say "virtualenv: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
}

# What the installed set depends on: the dependency declarations, the lock, the interpreter, which
# top-level packages exist (an editable install maps only the packages found at install time), and
# the C sources of the native modules, which the install compiles.
install_fingerprint() {
    {
        cat pyproject.toml requirements-lock.txt
        find monitor -name '*.c' -print0 | sort -z | xargs -0 cat
        "$VENV/bin/python" --version
        ls -d monitor/__init__.py consumers/__init__.py alerts/__init__.py 2>/dev/null || true
    } | sha256sum | cut -d' ' -f1
}

install_python_packages() {
    local fingerprint
    fingerprint=$(install_fingerprint)
    if [[ -f $STAMP && $(cat "$STAMP") == "$fingerprint" ]] &&
        "$VENV/bin/python" -c 'import importlib.metadata as m; m.distribution("driftline")' >/dev/null 2>&1; then
        say "python packages: up to date (pyproject.toml and requirements-lock.txt unchanged)"
        return
    fi
    local t0=$SECONDS
    say "python packages: upgrading pip"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    say "python packages: installing driftline[dev] (editable) pinned by requirements-lock.txt"
    "$VENV/bin/python" -m pip install --quiet --progress-bar off -e '.[dev]' -c requirements-lock.txt
    local check_output
    check_output=$("$VENV/bin/python" -m pip check 2>&1) ||
        die "pip check found broken requirements in $VENV:"$'\n'"$check_output"
    printf '%s\n' "$fingerprint" >"$STAMP"
    say "python packages: installed in $((SECONDS - t0))s"
}

install_system_packages
create_venv
install_python_packages
say "done in $((SECONDS - started_at))s"
