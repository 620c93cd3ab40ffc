#!/usr/bin/env bash
# Cost of the media path of `callproxy serve`, measured with real processes on loopback:
#   client-test (N paced calls, as Twilio) -> serve (1 event loop) -> local-speaker (--output null)
# Reports serve's CPU time per forwarded frame, the forwarding-latency percentiles from its own
# histogram, and its memory per live call. Usage: bench/media_cost.sh [CALLS] [SECONDS] [FORMAT]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-50}
seconds=${2:-20}
format=${3:-simple}
bin=build/release/cli/callproxy
[[ -x $bin ]] || { cmake --preset release >/dev/null && cmake --build --preset release --target callproxy; }

tmp=$(mktemp -d)
cleanup() { kill "$serve_pid" "$speaker_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

$bin local-speaker --bind 127.0.0.1 --port 0 --output null 2>"$tmp/speaker.log" &
speaker_pid=$!
$bin serve --bind 127.0.0.1 --port 0 --threads 1 --backend-format "$format" --log-level warn 2>"$tmp/serve.log" &
serve_pid=$!
for _ in $(seq 50); do grep -q "listening on" "$tmp/speaker.log" && break; sleep 0.1; done
speaker_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/speaker.log" | head -1)
# serve logs at warn: find its port from the socket table instead.
for _ in $(seq 50); do
  serve_port=$(ss -ltnp 2>/dev/null | awk -v pid="pid=$serve_pid," '$0 ~ pid {split($4, a, ":"); print a[length(a)]}' | head -1)
  [[ -n $serve_port ]] && break; sleep 0.1
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$serve_pid/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$serve_pid/status"; }

rss_idle=$(rss)
cpu_before=$(cpu)
$bin client-test --url "ws://127.0.0.1:$serve_port/media" --calls "$calls" --duration "$seconds" \
  --backend-hosts "[\"127.0.0.1:$speaker_port\"]" --json >"$tmp/calls.json" 2>/dev/null &
client_pid=$!
sleep $(( seconds / 2 ))
rss_live=$(rss)
wait "$client_pid" || true
cpu_after=$(cpu)
curl_metrics() { exec 3<>"/dev/tcp/127.0.0.1/$serve_port"; printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3; cat <&3; }
curl_metrics >"$tmp/metrics.txt"

python3 - "$tmp/metrics.txt" "$tmp/calls.json" "$cpu_before" "$cpu_after" "$ticks" "$rss_idle" "$rss_live" "$calls" "$seconds" "$format" <<'PY'
import json, sys
metrics, calls_file, cpu0, cpu1, ticks, rss0, rss1, calls, seconds, fmt = sys.argv[1:]
values, buckets = {}, []
for line in open(metrics):
    if not line.startswith('callproxy_'): continue
    name, value = line.rsplit(' ', 1)
    if name.startswith('callproxy_forward_latency_seconds_bucket'):
        le = name.split('le="')[1].rstrip('"}')
        buckets.append((float('inf') if le == '+Inf' else float(le), float(value)))
    else:
        values[name] = float(value)
frames = values['callproxy_frames_in_total']
out = values['callproxy_frames_out_total']
cpu_s = (float(cpu1) - float(cpu0)) / float(ticks)
def pct(p):
    total = buckets[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= p * total:
            if le == float('inf'): return prev_le
            return prev_le + (le - prev_le) * ((p * total - prev_c) / max(c - prev_c, 1))
        prev_le, prev_c = le, c
ok = sum(1 for l in open(calls_file) if '"ok":true' in l)
print(f"calls {calls} x {seconds} s ({fmt} format), {ok} ok; frames in {frames:.0f}, out {out:.0f}, "
      f"dropped {sum(v for k, v in values.items() if k.startswith('callproxy_frames_dropped_total')):.0f}")
print(f"serve CPU: {cpu_s:.2f} s = {cpu_s / frames * 1e6:.1f} us per frame in (1 backend each)")
print(f"forwarding latency (arrival -> written to the backend): p50 {pct(.5)*1e6:.0f} us, "
      f"p90 {pct(.9)*1e6:.0f} us, p99 {pct(.99)*1e6:.0f} us")
print(f"serve memory: idle {int(rss0)/1024:.1f} MiB, with {calls} live calls {int(rss1)/1024:.1f} MiB "
      f"= {(int(rss1) - int(rss0)) / int(calls):.0f} KiB per call")
PY
