#!/usr/bin/env bash
# README command 2: install what is missing, build, run the whole test suite (CTest).
#   scripts/test.sh            the debug build
#   scripts/test.sh asan       the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/test.sh release    optimised build
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-debug}
bash scripts/install-deps.sh test   # build + the servers and tools the suite starts
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" -j 2
