#!/usr/bin/env bash
# A sound card for machines without one: a private PulseAudio server whose default sink is a
# null sink, so programs that play through ALSA's "default" device (PortAudio included, through
# libasound2-plugins) really play, and the sink's monitor can be recorded and compared with what
# was sent. The end-to-end audio tests use it; so can anyone running local-speaker headless.
#
#   eval "$(scripts/null-audio.sh start)"     start (or reuse) the server; prints the exports
#   scripts/null-audio.sh rec-start OUT.wav   record the sink until rec-stop
#   scripts/null-audio.sh rec-stop            finish OUT.wav
#   scripts/null-audio.sh stop                stop the recorder and the server
#
# NULL_AUDIO_DIR   where the server keeps its socket, PID and log (default /tmp/callproxy-null-audio)
# NULL_AUDIO_RATE  the sink's sample rate (default 8000: G.711 audio is played unresampled)
# NULL_AUDIO_TAIL  seconds recorded after rec-stop is asked, for the last samples (default 0.3)
# Needs Debian's pulseaudio, pulseaudio-utils and libasound2-plugins (scripts/install-deps.sh test).
set -uo pipefail

dir=${NULL_AUDIO_DIR:-/tmp/callproxy-null-audio}
rate=${NULL_AUDIO_RATE:-8000}
socket=$dir/run/native
# Every libpulse client (ALSA's pulse plugin, pactl, parecord) finds the server through these.
export PULSE_SERVER=unix:$socket PULSE_COOKIE=$dir/cookie

fail() { echo "null-audio: $*" >&2; exit 1; }

# The PID in file $1 belongs to a live (not zombie) process named $2: a stale file or a reused
# PID is not ours.
owns() {
  local pid state
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ -r /proc/$pid/stat && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
  [[ -n $state && $state != Z ]]
}

# Signals the process in file $1 (named $2) with $3 and waits up to 5 s for it, then kills it.
end_process() {
  local pidfile=$1 name=$2 sig=$3 pid
  if owns "$pidfile" "$name"; then
    pid=$(<"$pidfile")
    kill -"$sig" "$pid" 2>/dev/null
    for _ in {1..50}; do owns "$pidfile" "$name" || break; sleep 0.1; done
    owns "$pidfile" "$name" && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
}

answering() { pactl info >/dev/null 2>&1; }

start() {
  command -v pulseaudio >/dev/null && command -v parecord >/dev/null ||
    fail "pulseaudio and parecord are missing (scripts/install-deps.sh test installs them)"
  if ! { owns "$dir/run/pid" pulseaudio && answering; }; then
    mkdir -p "$dir/run" "$dir/state" && chmod 700 "$dir" "$dir/run" || fail "cannot create $dir"
    # One null sink, the default for players and (its monitor) for recorders. No rewinds: with
    # them a stream that starts late rewrites the monitor's recent past and the capture loses or
    # shifts audio. No cookie: the socket sits in a private 0700 directory.
    cat >"$dir/server.pa" <<EOF
load-module module-native-protocol-unix socket=$socket auth-anonymous=1 auth-cookie-enabled=0
load-module module-null-sink sink_name=callproxy_null rate=$rate channels=1 format=s16le norewinds=1
set-default-sink callproxy_null
set-default-source callproxy_null.monitor
EOF
    # As root PulseAudio only warns; runtime and state paths keep it out of the user's own setup.
    PULSE_RUNTIME_PATH=$dir/run PULSE_STATE_PATH=$dir/state \
      pulseaudio --daemonize=yes --use-pid-file=yes -n -F "$dir/server.pa" --exit-idle-time=-1 \
      --realtime=no --high-priority=no --disable-shm=yes --log-target=file:"$dir/server.log" \
      </dev/null >/dev/null 2>&1 || fail "pulseaudio did not start; see $dir/server.log"
    for _ in {1..50}; do answering && break; sleep 0.1; done
    answering || fail "pulseaudio does not answer on $socket; see $dir/server.log"
  fi
  echo "export PULSE_SERVER=$PULSE_SERVER PULSE_COOKIE=$PULSE_COOKIE"
}

rec_start() {
  [[ $# -eq 1 ]] || fail "usage: $0 rec-start OUT.wav"
  answering || fail "no server: run eval \"\$($0 start)\" first"
  owns "$dir/rec.pid" parecord && fail "already recording to $(<"$dir/rec.path")"
  local out=$1
  [[ $out == /* ]] || out=$PWD/$out
  parecord -d callproxy_null.monitor --rate="$rate" --channels=1 --format=s16le --file-format=wav \
    --latency-msec=20 "$out" </dev/null >/dev/null 2>"$dir/rec.log" &
  echo $! >"$dir/rec.pid"
  echo "$out" >"$dir/rec.path"
  # Return only once the recorder's stream is attached: nothing played afterwards is missed.
  for _ in {1..50}; do
    pactl list source-outputs 2>/dev/null | grep -q "application.process.id = \"$(<"$dir/rec.pid")\"" && return 0
    owns "$dir/rec.pid" parecord || break
    sleep 0.1
  done
  end_process "$dir/rec.pid" parecord INT
  fail "parecord did not start: $(cat "$dir/rec.log")"
}

rec_stop() {
  owns "$dir/rec.pid" parecord || fail "not recording"
  sleep "${NULL_AUDIO_TAIL:-0.3}"  # the last samples played are still on their way to the monitor
  end_process "$dir/rec.pid" parecord INT  # SIGINT lets parecord write the WAV header's sizes
  [[ -s $(<"$dir/rec.path") ]] || fail "the recording $(<"$dir/rec.path") is empty"
}

case ${1:-} in
  start) start ;;
  rec-start) shift; rec_start "$@" ;;
  rec-stop) rec_stop ;;
  stop) end_process "$dir/rec.pid" parecord INT; end_process "$dir/run/pid" pulseaudio TERM ;;
  *) fail "usage: $0 start | rec-start OUT.wav | rec-stop | stop" ;;
esac
