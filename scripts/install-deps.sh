#!/usr/bin/env bash
# Installs the Debian packages callproxy needs to build, test and run.
# A no-op (no apt call at all) when everything is already installed.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --assets   also the tools that regenerate assets/ (espeak-ng, sox)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-url1.81-dev   # Asio/Beast + Boost.URL (1.81; replaces 1.74)
  libssl-dev openssl                      # HMAC-SHA1, SHA-256, TLS (the CLI makes test certificates)
  libcli11-dev nlohmann-json3-dev
  libsimdjson-dev                         # the media fast path (on-demand parsing, no DOM)
  libspdlog-dev libfmt-dev
  libsqlite3-dev                          # the default state store
  libhiredis-dev redis-server             # the shared store (RESP over our own Asio socket); tests run a real server
  libsndfile1-dev libsamplerate0-dev      # reading/writing WAV, resampling to 8 kHz
  portaudio19-dev
  catch2
  # The end-to-end audio test: a headless PulseAudio null sink (scripts/null-audio.sh)
  # that ALSA's default device (PortAudio) plays into.
  pulseaudio pulseaudio-utils libasound2-plugins
  valgrind                                # bench/run --callgrind: instructions and allocations per frame
  python3                                 # bench/run: the cross-check, the callgrind sums, the bench/README.md table
  gnuplot-nox                             # bench/soak: the plot of RSS and descriptors over time
  clang-format clang-tidy                 # scripts/format.sh (CI checks it) and scripts/lint.sh
  dpkg-dev file systemd                   # scripts/package.sh (cpack -G DEB computes the dependencies), and
                                          # scripts/check-package.sh (systemd-analyze checks the unit)
  clang libfuzzer-14-dev                  # the fuzz preset: clang++-14 and libFuzzer (bench/fuzz)
  nginx curl                              # tests/integration/deploy_test.cpp runs assets/deploy/nginx/callproxy.conf
                                          # (TLS in front, two instances behind its upstream; curl is its HTTPS client)
)
if [[ "${1:-}" == "--assets" ]]; then
  packages+=(espeak-ng sox)
fi

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# Servers the tests start themselves (nginx, redis-server) are not started as system services by
# their installation: a test dependency should not open port 80 or 6379 on this machine. (A
# policy-rc.d already in place is left alone.)
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts while it installs\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
