#!/usr/bin/env bash
# Build driftline's C modules (monitor/pipeline/decoding/_scan.c, monitor/core/_histogram.c) with
# AddressSanitizer and UndefinedBehaviorSanitizer into a scratch copy of the code, then run the
# tests that drive them and the native fuzzer (tests/native_fuzz.py) against that build. Any
# memory error or undefined behaviour aborts with a report; a disagreement between the native
# and reference decoders fails too.
#   bash scripts/check-native.sh [--batches N]     (needs .venv: bash scripts/setup.sh)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
NAME=check-native
source scripts/lib/process.sh

PYTHON=${PYTHON:-.venv/bin/python}
[[ -x $PYTHON ]] || die "no $PYTHON: run bash scripts/setup.sh first"
command -v gcc >/dev/null || die "gcc is needed to build the sanitized modules"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r pyproject.toml monitor consumers alerts tests "$scratch"/
find "$scratch" \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +

include=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
for source in monitor/pipeline/decoding/_scan.c monitor/core/_histogram.c; do
    gcc -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
        -fno-sanitize-recover=all -Wall -Werror -I"$include" "$source" -o "$scratch/${source%.c}$suffix"
done

python=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")  # the venv's, not resolved
cd "$scratch"
export PYTHONPATH=$scratch  # before the editable install: the sanitized modules are imported
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0  # CPython keeps memory alive until exit on purpose; reports go to
# stderr, which pytest must not capture at the descriptor level (--capture=sys below)
export PYTHONMALLOC=malloc  # objects in malloc blocks ASan guards, not in pymalloc arenas
"$python" -c 'import monitor.pipeline.decoding._scan as s, monitor.core._histogram as h, sys
for m in (s, h):
    assert m.__file__.startswith(sys.argv[1]), f"{m.__name__} came from {m.__file__}"' "$scratch"
"$python" -m pytest -q -p no:cacheprovider --hypothesis-profile=ci --capture=sys \
    tests/unit/pipeline/test_scan.py tests/unit/pipeline/test_events.py tests/unit/core/test_sketch.py
"$python" tests/native_fuzz.py "$@"
