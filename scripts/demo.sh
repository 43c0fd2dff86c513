#!/usr/bin/env bash
# The README's first command: set up this checkout (idempotent) and run the demo on embedded defaults.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DRIFTLINE_SKIP_APT=${DRIFTLINE_SKIP_APT:-1} bash scripts/setup.sh
exec .venv/bin/driftline demo "$@"
