#!/usr/bin/env bash
# README command 1: install what is missing for the build only (no test, bench or packaging
# tools), build (release), start `callproxy serve` on its embedded defaults. Extra arguments go to serve, e.g. scripts/serve.sh --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
cmake --preset release >/dev/null
cmake --build --preset release --target callproxy
# The demo PINs route 1234 (and 4321) to localhost:8888, where local-speaker listens.
exec build/release/cli/callproxy serve --pins-file assets/demo-pins.json "$@"
