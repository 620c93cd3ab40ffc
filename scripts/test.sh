#!/usr/bin/env bash
# README command 2: install what is missing, build, run the whole test suite (CTest).
#   scripts/test.sh            the release build (-O3): what serve.sh, the package and bench/ build
#                              and run, so one build serves all of them (and CI builds it once)
#   scripts/test.sh debug      -O0 -g, for stepping through a failing test in a debugger
#   scripts/test.sh asan       the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#                              (-O0, assertions on; CI runs it after the release suite)
#   scripts/test.sh quick      the debug build, only the unit tests (ctest -L unit; under a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
labels=()
if [[ $preset == quick ]]; then
  preset=debug
  labels=(-L unit)
fi
bash scripts/install-deps.sh test   # build + the servers and tools the suite starts
cmake --preset "$preset" -DCALLPROXY_BUILD_TESTS=ON >/dev/null
start=$SECONDS
cmake --build --preset "$preset"
built=$SECONDS
ctest --preset "$preset" -j 2 "${labels[@]}"
echo "test.sh: $preset: build $((built - start)) s, suite $((SECONDS - built)) s" >&2
