#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh), installs it on this machine with apt-get (as
# root, or through sudo), checks what it installed, then purges it. CI runs it (.ci/run). It
# refuses to run where callproxy is installed already, since it ends by purging the package.
#
# Checked: the audio libraries opened at run time are recommended, not depended on;
# `callproxy --version`; the settings registered as a conffile, readable by root and the callproxy
# group only; /etc/default/callproxy (the unit's EnvironmentFile) a conffile, root's alone, all
# comments, naming only variables serve reads; the man page (every subcommand's section, as
# `man -l` renders it, without groff warnings); the DEP-5 copyright file and the changelog whose
# top entry is this version; the system user and its state directory; `systemd-analyze verify` on the
# unit with nothing to say (it exits 0 on unknown keys and bad values, so any output fails here)
# and its exposure rating (`systemd-analyze security --offline`); the installed binary started
# with the installed settings as the callproxy user, answering /readyz and writing its SQLite
# store in the state directory; after the purge, nothing of it left but the user.
#
# The unit itself is not started: that needs systemd running as PID 1, and CI machines (this
# project's among them) are often containers without it. The check says which case it met.
set -euo pipefail
cd "$(dirname "$0")/.."

max_exposure=2.0  # systemd-analyze security: 0 (locked down) .. 10 (unsafe); the unit rates 1.5

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "check-package: need root (or sudo) to install the package" >&2; exit 1; }
  sudo=(sudo)
fi
fail() {
  echo "check-package: FAILED: $*" >&2
  exit 1
}
if dpkg-query -W -f='${Status}' callproxy 2>/dev/null | grep -q "ok installed"; then
  fail "callproxy is installed on this machine already; this check installs and purges it"
fi
bash scripts/install-deps.sh package  # systemd-analyze, besides what scripts/package.sh needs

deb=$(bash scripts/package.sh | tail -1)
version=$(dpkg-deb -f "$deb" Version)
# The audio libraries are opened at run time (not linked), so dpkg-shlibdeps does not add them;
# serve never loads them, so they are Recommends (client-test and local-speaker want them).
depends=$(dpkg-deb -f "$deb" Depends)
recommends=$(dpkg-deb -f "$deb" Recommends)
for lib in libportaudio2 libsndfile1 libsamplerate0; do
  grep -qw "$lib" <<<"$recommends" || fail "the package does not recommend $lib: Recommends: $recommends"
  ! grep -qw "$lib" <<<"$depends" || fail "the package depends on $lib (serve never loads it): Depends: $depends"
done
echo "check-package: Depends: $depends"
echo "check-package: Recommends: $recommends"
echo "check-package: installing $deb"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null

work=$(mktemp -d /tmp/callproxy-package.XXXXXX)
serve_pid=
cleanup() {
  # Never fail here (errexit would end the trap before the purge): a serve that died is no error.
  [[ -n $serve_pid ]] && "${sudo[@]}" kill "$serve_pid" 2>/dev/null || true
  rm -rf "$work"
  if dpkg-query -W -f='${Status}' callproxy 2>/dev/null | grep -q "ok installed"; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq callproxy >/dev/null
  fi
}
trap cleanup EXIT

# What it installed.
[[ $(callproxy --version) == "callproxy $version" ]] || fail "callproxy --version says '$(callproxy --version)'"
[[ $(command -v callproxy) == /usr/bin/callproxy ]] || fail "callproxy is not /usr/bin/callproxy"
dpkg-query -W -f='${Conffiles}\n' callproxy | grep -q "^ /etc/callproxy/callproxy.toml " ||
  fail "/etc/callproxy/callproxy.toml is not a conffile"
[[ $(stat -c '%U:%G %a' /etc/callproxy/callproxy.toml) == "root:callproxy 640" ]] ||
  fail "/etc/callproxy/callproxy.toml is $(stat -c '%U:%G %a' /etc/callproxy/callproxy.toml), not root:callproxy 640"
# The unit's environment file: a conffile for root alone (systemd reads it before dropping to
# callproxy), nothing set by the package, and every variable it names one serve reads.
defaults=/etc/default/callproxy
dpkg-query -W -f='${Conffiles}\n' callproxy | grep -q "^ $defaults " || fail "$defaults is not a conffile"
[[ $(stat -c '%U:%G %a' $defaults) == "root:root 600" ]] ||
  fail "$defaults is $(stat -c '%U:%G %a' $defaults), not root:root 600"
! grep -v -E '^(#|$)' $defaults >/dev/null || fail "$defaults sets something: $(grep -v -E '^(#|$)' $defaults)"
grep -q '^EnvironmentFile=-/etc/default/callproxy$' /lib/systemd/system/callproxy.service ||
  fail "the unit does not read $defaults"
reference=$(callproxy serve --print-reference)
named=$(sed -n 's/^#\([A-Z][A-Z0-9_]*\)=.*/\1/p' $defaults)
[[ -n $named ]] || fail "$defaults names no variable"
for name in $named; do
  grep -qF "| \`$name\` |" <<<"$reference" || fail "$defaults names $name, which serve does not read"
done
# The man page, generated from --help: a section per subcommand, and what serve --help lists.
man_page=/usr/share/man/man1/callproxy.1.gz
[[ -f $man_page ]] || fail "no $man_page (in the package: $(dpkg-deb -c "$deb" | grep -c 'man1/callproxy.1.gz') file(s); a dpkg path-exclude?)"
rendered=$(MANWIDTH=100 man --warnings -l "$man_page" 2>"$work/man.err") || fail "man -l $man_page: $(cat "$work/man.err")"
[[ ! -s $work/man.err ]] || fail "man -l $man_page warns: $(cat "$work/man.err")"
for want in "CALLPROXY SERVE" "CALLPROXY CLIENT-TEST" "CALLPROXY LOCAL-SPEAKER" "CALLPROXY SIGN" "--drain-timeout" \
  "--print-config" "--validate-signatures" "/etc/default/callproxy"; do
  grep -qF -- "$want" <<<"$rendered" || fail "the man page has no '$want'"
done
# The copyright file (DEP-5) and the changelog (a native package: changelog.gz).
doc=/usr/share/doc/callproxy
head -1 $doc/copyright | grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ||
  fail "$doc/copyright is not machine-readable (DEP-5): $(head -1 $doc/copyright 2>&1)"
grep -q '^License: ' $doc/copyright || fail "$doc/copyright names no licence"
zcat $doc/changelog.gz >"$work/changelog" || fail "no $doc/changelog.gz"
[[ $(dpkg-parsechangelog -l "$work/changelog" -S Version) == "$version" ]] ||
  fail "$doc/changelog.gz's top entry is $(dpkg-parsechangelog -l "$work/changelog" -S Version), not $version"
echo "check-package: $defaults (600, comments only), callproxy(1), copyright and changelog.gz installed"
getent passwd callproxy | grep -q ":/usr/sbin/nologin$" || fail "no system user callproxy (without a login shell)"
[[ $(stat -c '%U:%G %a' /var/lib/callproxy) == "callproxy:callproxy 750" ]] ||
  fail "/var/lib/callproxy is $(stat -c '%U:%G %a' /var/lib/callproxy), not callproxy:callproxy 750"

# The unit, as systemd reads it.
unit=/lib/systemd/system/callproxy.service
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verify"
[[ -z $verify ]] || fail "systemd-analyze verify $unit has something to say: $verify"
exposure=$(systemd-analyze security --offline=true "$unit" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[[ -n $exposure ]] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" -v max="$max_exposure" 'BEGIN { exit !(e <= max) }' ||
  fail "the unit's exposure level is $exposure (over $max_exposure)"
echo "check-package: systemd-analyze verify: clean; exposure level $exposure"

# The unit's command, as its user, with the installed settings (only the port changed: any free
# one; the package's settings check signatures, so a token is given), without systemd's sandbox.
"${sudo[@]}" setpriv --reuid=callproxy --regid=callproxy --clear-groups --reset-env \
  env TWILIO_AUTH_TOKEN=check-package-token /usr/bin/callproxy serve --config /etc/callproxy/callproxy.toml \
  --port 0 2>"$work/serve.log" &
serve_pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.log")
  [[ -n $port ]] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n $port ]] || fail "serve did not start with /etc/callproxy/callproxy.toml: $(cat "$work/serve.log")"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
ready=$(cat <&3)
exec 3<&-
[[ $ready == "HTTP/1.1 200"* ]] || fail "/readyz answered: $ready"
grep -q "state store: sqlite:/var/lib/callproxy/callproxy.db" "$work/serve.log" || fail "serve's store: $(cat "$work/serve.log")"
"${sudo[@]}" test -f /var/lib/callproxy/callproxy.db || fail "no SQLite file in /var/lib/callproxy"
"${sudo[@]}" kill -TERM "$serve_pid"
wait "$serve_pid" || fail "serve exited $? on SIGTERM"
serve_pid=
echo "check-package: the installed serve ran as callproxy with the installed settings (/readyz 200, SQLite in /var/lib/callproxy)"
if [[ -d /run/systemd/system ]]; then
  echo "check-package: systemd runs here, but the unit is not started by CI (it would take port 8999 of this machine)"
else
  echo "check-package: systemd is not PID 1 here (no /run/systemd/system): the unit was verified and rated, not started"
fi

# Purge: the binary, unit, settings and state go; the user stays (as Debian leaves system users).
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq callproxy >/dev/null
for path in /usr/bin/callproxy "$unit" /etc/callproxy /etc/default/callproxy /var/lib/callproxy "$man_page" "$doc"; do
  [[ ! -e $path ]] || fail "$path is left after the purge"
done
echo "check-package: OK (installed, checked and purged callproxy $version)"
