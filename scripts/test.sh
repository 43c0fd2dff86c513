#!/usr/bin/env bash
# Run every check CI runs, in order, stopping at the first failure: set-up, ruff lint, ruff
# format check, mypy, the C modules under sanitizers, then pytest. Extra arguments go to pytest
# (and skip the sanitizer stage, which is for the whole gate), e.g.
#   bash scripts/test.sh tests/unit -k psi
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
suite_started_at=$SECONDS

run_stage() {
    local name=$1
    shift
    local t0=$SECONDS
    printf '\n[test] ==> %s\n' "$name"
    if "$@"; then
        printf '[test] %s: ok (%ds)\n' "$name" "$((SECONDS - t0))"
    else
        local rc=$?
        printf '\n[test] FAILED at stage "%s" (exit code %d); later stages were not run.\n' "$name" "$rc" >&2
        exit "$rc"
    fi
}

run_stage "setup" bash scripts/setup.sh
run_stage "ruff check" .venv/bin/ruff check .
run_stage "ruff format --check" .venv/bin/ruff format --check .
# Which packages mypy checks is configured in pyproject.toml ([tool.mypy] packages).
run_stage "mypy" .venv/bin/mypy
if (($# == 0)); then
    # ASan and UBSan builds of monitor/pipeline/decoding/_scan.c and monitor/core/_histogram.c run their tests
    # and a fuzzer that checks the native decoder against the reference one (~1 min).
    run_stage "C modules under sanitizers" bash scripts/check-native.sh
fi
# tests/benchmarks holds scripts, not tests: tests/conftest.py keeps pytest from collecting them.
# Hypothesis' "ci" profile derandomizes the property tests: the gate draws the same examples on
# every run, so a change passes or fails on its code; `.venv/bin/pytest` alone explores new ones.
run_stage "pytest" .venv/bin/pytest --hypothesis-profile=ci "$@"
printf '\n[test] all stages passed in %ds\n' "$((SECONDS - suite_started_at))"
