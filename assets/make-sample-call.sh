#!/usr/bin/env bash
# Regenerates assets/sample-call-ulaw.wav: a few seconds of synthetic speech as a caller would
# send it through Twilio (8 kHz, mono, G.711 mu-law WAV). Needs espeak-ng and sox
# (scripts/install-deps.sh assets installs both). The output is deterministic for a given
# espeak-ng/sox version; the committed file was made with espeak-ng 1.51 and sox 14.4.2.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

text="Hello, this is a test call through call proxy. If you can hear this, the audio path works."

espeak-ng -v en-us -s 150 -w "$work/speech.wav" "$text"
# Resample to 8 kHz mono, normalise to -3 dBFS, encode as mu-law (no dither: reproducible).
sox -D "$work/speech.wav" -r 8000 -c 1 -e mu-law -b 8 "$here/sample-call-ulaw.wav" norm -3
soxi "$here/sample-call-ulaw.wav" | grep -E 'Channels|Sample Rate|Duration|Encoding'
