#!/usr/bin/env bash
# Installs the Debian packages callproxy needs, by purpose, so each script waits only for what it
# uses (scripts/serve.sh, the README's first command, only for the build). A no-op (no apt call at
# all) when everything asked for is already installed.
#   scripts/install-deps.sh [GROUP...]     default: build
#     build     compile and run callproxy: compiler, CMake/Ninja, the libraries' headers (scripts/serve.sh)
#     test      build + the suite's servers and tools: Catch2, redis-server, PulseAudio, nginx, curl,
#               openssl, git, prometheus (promtool), python3-yaml (scripts/test.sh)
#     bench     build + valgrind, python3, gnuplot (bench/run, bench/soak)
#     fuzz      build + clang and libFuzzer (bench/fuzz)
#     package   build + dpkg-dev, file, systemd, man-db (scripts/package.sh, scripts/check-package.sh)
#     container podman, debootstrap, curl: the container image (scripts/container.sh; no build on this machine)
#     format    clang-format (scripts/format.sh)
#     lint      build + test + clang-tidy (scripts/lint.sh: the debug preset's compile commands)
#     assets    espeak-ng, sox: what regenerates assets/ (assets/make-sample-call.sh); --assets too
#     all       every group but assets (what CI's machine and a bench machine hold)
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

declare -A group
group[build]="
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-url1.81-dev   # Asio/Beast + Boost.URL (1.81; replaces 1.74)
  libssl-dev                              # HMAC-SHA1, SHA-256, TLS
  libcli11-dev nlohmann-json3-dev
  libsimdjson-dev                         # the media fast path (on-demand parsing, no DOM)
  libtomlplusplus-dev                     # the config file, read as strict TOML (toml++ 3, header-only:
                                          # compiled in cli/toml_document.cpp alone)
  libspdlog-dev libfmt-dev
  libsqlite3-dev                          # the default state store
  libhiredis-dev                          # the shared store (RESP over our own Asio socket)
  libspeexdsp-dev                         # the audio shapes' resampler (audio/shape_converter.h)
  # WAV files, resampling to 8 kHz, the sound card: opened at run time (core/shared_library.h),
  # but their headers are compiled in; the -dev packages bring the libraries themselves too.
  libsndfile1-dev libsamplerate0-dev portaudio19-dev
"
group[test]="
  catch2                                  # the suite (the test presets need it; release builds without)
  redis-server                            # the Redis store's tests run a real server
  # The end-to-end audio tests: a headless PulseAudio null sink (scripts/null-audio.sh) that ALSA's
  # default device (PortAudio) plays into.
  pulseaudio pulseaudio-utils libasound2-plugins
  nginx curl openssl                      # tests/integration/deploy_test.cpp: the nginx config in front
                                          # (curl its HTTPS client, openssl makes the test certificates)
  git                                     # the layout test (scripts/check-layout.sh lists files with git)
  libsoxr-dev                             # bench/resamplers, built with the suite so it cannot rot
  prometheus                              # promtool: the deploy tests check the shipped alert rules and run
                                          # their unit tests (promtool check rules / test rules); one test
                                          # runs /usr/bin/prometheus itself on a loopback port to scrape
                                          # serve; the packaged service is never started (policy-rc.d below)
  python3-yaml                            # the deploy tests parse the Kubernetes manifests
                                          # (assets/deploy/kubernetes/) with Debian's python3 and PyYAML
"
group[bench]="
  valgrind                                # bench/run --callgrind: instructions and allocations per frame
  python3                                 # bench/run: the cross-check, the callgrind sums, the bench/README.md
                                          # table; bench/soak itself
  gnuplot-nox                             # bench/soak: the plot of RSS and descriptors over time
  libsoxr-dev                             # bench/resamplers: what the resampler was chosen against
"
group[fuzz]="
  clang libfuzzer-14-dev                  # the fuzz preset: clang++-14 and libFuzzer (bench/fuzz)
"
group[package]="
  dpkg-dev file                           # scripts/package.sh (cpack -G DEB computes the dependencies)
  systemd                                 # scripts/check-package.sh (systemd-analyze checks the unit)
  man-db                                  # scripts/check-package.sh (man -l renders the installed man page)
"
group[container]="
  podman                                  # scripts/container.sh: podman build, create, export
  debootstrap                             # the Debian 12 base image, made here (no registry is needed)
  curl                                    # scripts/container.sh asks the image's serve for /readyz
"
group[format]="clang-format"
group[lint]="clang-tidy"
group[assets]="espeak-ng sox"
# The groups a group brings with it.
declare -A needs=([test]=build [bench]=build [fuzz]=build [package]=build [lint]="build test"
                  [all]="build test bench fuzz package format lint container")

asked=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --assets) asked+=(assets) ;;
    *)
      if [[ -z ${group[$arg]+x} && -z ${needs[$arg]+x} ]]; then
        echo "install-deps: unknown group '$arg'" >&2
        usage >&2
        exit 2
      fi
      asked+=("$arg") ;;
  esac
done
[[ ${#asked[@]} -gt 0 ]] || asked=(build)

packages=()
declare -A seen=()
add_group() {
  [[ -n ${seen[$1]+x} ]] && return
  seen[$1]=1
  local g
  for g in ${needs[$1]:-}; do add_group "$g"; done
  local list
  read -ra list <<<"$(sed 's/#.*//' <<<"${group[$1]:-}" | tr '\n' ' ')"  # the list without its comments
  packages+=("${list[@]}")
}
for g in "${asked[@]}"; do add_group "$g"; done

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps (${asked[*]}): installing ${missing[*]}" >&2
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
# --force-unsafe-io: dpkg unpacks without an fsync per file. libboost1.81-dev alone is ~15,000
# header files: 56 s to unpack with the fsyncs, 5 s without, half of a fresh machine's install
# (the price: a power cut during the install can leave these packages' files empty; reinstall).
"${sudo[@]}" apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io \
  "${missing[@]}" >/dev/null
