#!/usr/bin/env bash
# Builds the Debian package from the release preset: build/release/package/callproxy_<version>_<arch>.deb
# (its path is the last line printed). Only the binary and what ships with it (the man page, made
# from its --help, and the changelog) are built, not the tests.
#   scripts/package.sh
#   sudo apt-get install ./build/release/package/callproxy_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh package
cmake --preset release >/dev/null
cmake --build --preset release --target callproxy callproxy_package_docs >&2
rm -f build/release/package/callproxy_*.deb
cpack --config build/release/CPackConfig.cmake -G DEB -B build/release/package >&2
ls build/release/package/callproxy_*.deb
