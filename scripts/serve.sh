#!/usr/bin/env bash
# README command 1: install what is missing, build (release), start `callproxy serve` on its
# embedded defaults. Extra arguments go to serve, e.g. scripts/serve.sh --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target callproxy
exec build/release/cli/callproxy serve "$@"
