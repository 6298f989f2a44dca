#!/usr/bin/env bash
# README command 2: set up a fresh machine, then run the whole test suite (services start themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
