#!/usr/bin/env bash
# Builds callproxy's container image (assets/deploy/container/Containerfile) with podman and checks
# it without running a container: the image's files are exported into a folder, and the binary
# there runs with the folder's own loader and libraries: --version, then serve on a loopback port
# chosen now, until /readyz answers 200, and (as root) the image's HEALTHCHECK command in a chroot
# of the folder. Also checked: no audio library in the image, a non-root user, the stop signal,
# the port and the health check in its configuration.
#   scripts/container.sh [IMAGE]          default IMAGE: localhost/callproxy:<version>
#
# The base, localhost/debian:12, is made here when missing (debootstrap --variant=minbase from
# the Debian mirror this machine's apt sources name, with those sources copied in), so no
# container registry is needed. RUN steps use --isolation=chroot: podman's default runtime
# (crun) cannot start containers on every machine (in this project's CI container, `podman run`
# fails: "crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted"), and the check below does
# not start one either.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
bash scripts/install-deps.sh container

version=$(sed -n 's/^project(callproxy VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
image=${1:-localhost/callproxy:$version}
base=localhost/debian:12
fail() {
  echo "container: FAILED: $*" >&2
  exit 1
}
work=$(mktemp -d /tmp/callproxy-container.XXXXXX)
container=
serve_pid=
cleanup() {
  if [[ -n $serve_pid ]]; then kill "$serve_pid" 2>/dev/null || true; fi
  if [[ -n $container ]]; then podman rm -f "$container" >/dev/null 2>&1 || true; fi
  # The build stage each run leaves untagged (~250 MB): a long-lived CI machine would fill up.
  podman image prune -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The base image: Debian 12 from this machine's own mirror.
if ! podman image exists "$base"; then
  [[ $(id -u) -eq 0 ]] || fail "making $base with debootstrap needs root"
  mirror=$({ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    awk '/^deb / && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }
         /^URIs:/ && $2 !~ /security/ { print $2; exit }' | head -1)
  [[ -n $mirror ]] || fail "no Debian mirror in /etc/apt/sources.list*"
  echo "container: making $base (debootstrap --variant=minbase bookworm from $mirror)" >&2
  root="$work/rootfs"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    fail "debootstrap: $(tail -5 "$work/debootstrap.log")"
  # This machine's apt sources (the release, its updates and security), not debootstrap's one line.
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    rm -f "$root/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
  fi
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$root"
fi

echo "container: building $image" >&2
build_start=$SECONDS
podman build --isolation=chroot --format docker --layers \
  -f assets/deploy/container/Containerfile --ignorefile assets/deploy/container/containerignore \
  --build-arg BASE="$base" -t "$image" . >"$work/build.log" 2>&1 || fail "podman build: $(tail -20 "$work/build.log")"
echo "container: built in $((SECONDS - build_start)) s; $(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.1f MB", $1 / 1e6 }')" >&2

# What the image says about itself.
inspect() { podman image inspect --format "$1" "$image"; }
user=$(inspect '{{.Config.User}}')
[[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]] || fail "the image runs as '$user', not a non-root user"
[[ $(inspect '{{.Config.StopSignal}}') == SIGTERM ]] || fail "stop signal: $(inspect '{{.Config.StopSignal}}')"
inspect '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' | grep -qw 8999/tcp || fail "port 8999 is not exposed"
inspect '{{.Config.Healthcheck}}' | grep -q /healthz || fail "no health check on /healthz: $(inspect '{{.Config.Healthcheck}}')"
[[ $(inspect '{{join .Config.Entrypoint " "}} {{join .Config.Cmd " "}}') == "/usr/bin/callproxy serve" ]] ||
  fail "the image runs '$(inspect '{{join .Config.Entrypoint " "}} {{join .Config.Cmd " "}}')', not callproxy serve"

# Its files, in a folder (a container is created, never started).
# --no-healthcheck: never started, so no health-check timer (which wants systemd) either.
container=$(podman create --no-healthcheck "$image")
mkdir "$work/image"
podman export "$container" | tar -C "$work/image" --numeric-owner -x
audio=$(find "$work/image" -name 'libportaudio*' -o -name 'libsndfile*' -o -name 'libsamplerate*' -o -name 'libasound*' -o -name 'libjack*')
[[ -z $audio ]] || fail "audio libraries in the image: ${audio//$work\/image/}"
[[ $(stat -c %u "$work/image/var/lib/callproxy") == "${user%%:*}" ]] || fail "/var/lib/callproxy is not the image user's"

# The image's binary with the image's loader and libraries (none of this machine's).
lib="$work/image/usr/lib/x86_64-linux-gnu"
run_image() { "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$work/image/usr/bin/callproxy" "$@"; }
[[ $(run_image --version) == "callproxy $version" ]] || fail "callproxy --version in the image says '$(run_image --version 2>&1)'"
: >"$work/serve.log"
(cd "$work" && exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$work/image/usr/bin/callproxy" serve \
  --bind 127.0.0.1 --port 0 --store memory 2>"$work/serve.log") &
serve_pid=$!
port=
deadline=$((SECONDS + 20))
while [[ -z $port && $SECONDS -lt $deadline ]] && kill -0 "$serve_pid" 2>/dev/null; do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.log")
  [[ -n $port ]] || sleep 0.1
done
[[ -n $port ]] || fail "the image's serve did not start: $(cat "$work/serve.log")"
ready=
while [[ $SECONDS -lt $deadline ]]; do
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
  [[ $ready == 200 ]] && break
  sleep 0.1
done
[[ $ready == 200 ]] || fail "the image's serve: /readyz answered '$ready': $(cat "$work/serve.log")"
# The image's HEALTHCHECK command, as the image's user with the image's own bash, head and grep
# (chroot: root only): it passes while serve answers and fails once serve is gone.
health=$(inspect '{{index .Config.Healthcheck.Test 3}}')
healthcheck() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin AUDIO_PROXY_PORT="$port" \
    chroot --userspec="$user" "$work/image" bash -c "$health" 2>/dev/null
}
checked_health=
if [[ $(id -u) -eq 0 ]]; then
  healthcheck || fail "the image's HEALTHCHECK fails while its serve answers: $health"
  checked_health=", the health check passed"
fi
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "the image's serve exited $? on SIGTERM"
serve_pid=
if [[ -n $checked_health ]]; then
  ! healthcheck || fail "the image's HEALTHCHECK passes with serve stopped: $health"
  checked_health+=" (and failed once serve stopped)"
else
  echo "container: not root: the HEALTHCHECK command was not run (it needs chroot)" >&2
fi
echo "container: OK: $image ($(inspect '{{.Size}}' | awk '{ printf "%.1f MB", $1 / 1e6 }'), user $user, no audio" \
  "libraries; its serve answered /readyz 200 on 127.0.0.1:$port$checked_health) in $((SECONDS - start)) s" >&2
