#!/usr/bin/env bash
# README command 2: install what is missing, build, run the whole test suite (CTest).
#   scripts/test.sh            the debug build
#   scripts/test.sh asan       the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/test.sh release    optimised build
#   scripts/test.sh quick      the debug build, only the unit tests (ctest -L unit; under a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-debug}
labels=()
if [[ $preset == quick ]]; then
  preset=debug
  labels=(-L unit)
fi
bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" -j 2 "${labels[@]}"
