#!/usr/bin/env bash
# README command 1: set up a fresh machine, then run the demo on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/alpr demo "$@"
