#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ from the formats themselves, the
signature vectors in tests/data and the sample call in assets/. Run it after changing a format;
the seeds it writes are committed (bench/fuzz copies them to a scratch directory, so runs never
add to them). A seed is named for what it is."""
import json
import math
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
corpus = os.path.join(here, "corpus")


def write(target, name, data):
    directory = os.path.join(corpus, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---- media_message: what Twilio sends on a media stream ----------------------------------
sid = "MZ18ad3ab5a668481ce02b83e7395059f0"
start = {"event": "start", "sequenceNumber": "1", "start": {
    "accountSid": "AC00000000000000000000000000000000", "streamSid": sid,
    "callSid": "CA00000000000000000000000000000000", "tracks": ["inbound"],
    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    "customParameters": {"backendHosts": '["localhost:8888","wss://bot.example.com/stream"]',
                         "executionId": "FN0123456789abcdef0123456789abcdef", "streamMode": "connect"}},
    "streamSid": sid}


def media(payload, chunk="2"):
    return {"event": "media", "sequenceNumber": "3", "media": {
        "track": "inbound", "chunk": chunk, "timestamp": "20", "payload": payload}, "streamSid": sid}


frame = "/" * 212 + "w=="  # 160 bytes of mu-law, as Twilio sends every 20 ms
seeds = {
    "connected": {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    "start": start,
    "start-tracks-string": dict(start, start=dict(start["start"], tracks="inbound")),  # the Node test client
    "media": media(frame),
    "media-short": media("no+JhoaJjpz/"),
    "media-field-order": {"streamSid": sid, "media": {"payload": "QQ==", "timestamp": "5", "chunk": "1",
                                                       "track": "inbound"}, "sequenceNumber": "4", "event": "media"},
    "media-bad-payload": media("QQ="),
    "media-padding-only": media("=="),
    "media-escaped": media("QQ\\u003d\\u003d"),
    "dtmf": {"event": "dtmf", "streamSid": sid, "sequenceNumber": "5", "dtmf": {"track": "inbound_track", "digit": "5"}},
    "mark": {"event": "mark", "sequenceNumber": "6", "streamSid": sid, "mark": {"name": "greeting"}},
    "stop": {"event": "stop", "sequenceNumber": "7", "streamSid": sid, "stop": {
        "accountSid": "AC00000000000000000000000000000000", "callSid": "CA00000000000000000000000000000000"}},
    "unknown-event": {"event": "transcription", "streamSid": sid},
}
for name, message in seeds.items():
    write("media_message", name + ".json", compact(message).replace("\\\\u003d", "\\u003d"))
write("media_message", "media-trailing-text.json", compact(media("QQ==")) + "x")

# ---- backend_protocol: backends' replies and messages in both formats ----------------------
backend = {
    "simple-start": compact({"event": "start", "streamSid": sid, "callSid": "CA1", "accountSid": "AC1",
                             "tracks": ["inbound"], "customParameters": {"a": "b"},
                             "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}),
    "simple-media": compact({"event": "media", "media": "no+JhoaJjpz/"}),
    "simple-dtmf": compact({"event": "dtmf", "digit": "5"}),
    "simple-mark": compact({"event": "mark", "name": "greeting \"quoted\""}),
    "simple-stop": compact({"event": "stop"}),
    "simple-clear": compact({"event": "clear"}),
    "twilio-media-reply": compact({"event": "media", "streamSid": sid, "media": {"payload": "no+JhoaJjpz/"}}),
    "twilio-mark-reply": compact({"event": "mark", "mark": {"name": "x"}}),
    "twilio-start": compact(start),
    "twilio-media": compact(media("QQ==")),
    "unknown": compact({"event": "hello", "x": [1, {"y": None}]}),
    "not-an-object": "[\"media\"]",
    "control-hangup": compact({"event": "hangup", "say": "Thank you for calling."}),
    "control-transfer-number": compact({"event": "transfer", "to": "+15551234567"}),
    "control-transfer-sip": compact({"event": "transfer", "to": "sip:agent@pbx.example.com:5061"}),
    "control-end": compact({"event": "end", "handoff": {"intent": "billing", "account": 1234, "vip": True}}),
}
for name, text in backend.items():
    write("backend_protocol", name + ".json", text)

# ---- http_request: options line, then requests separated by "===" --------------------------
def request(method, target, headers=(), body=""):
    return "\n".join([f"{method} {target}", *headers, "", body])


json_type = "Content-Type: application/json"
form_type = "Content-Type: application/x-www-form-urlencoded"
api_key = "apiKey: fuzz-api-key"
pin = lambda p, caller="+15551234567": compact({"pin": p, "callerId": caller})  # noqa: E731
http = {
    "health": "\n" + request("GET", "/"),
    "status-routes": "\n" + "\n===\n".join([request("GET", "/healthz"), request("GET", "/readyz"),
                                            request("GET", "/metrics"), request("HEAD", "/healthz")]),
    "execution-connected": "\n" + "\n===\n".join([request("GET", "/executions/FNfuzz/connected"),
                                                  request("GET", "/executions/FNother/connected")]),
    "validate-pin-json": "\n" + request("POST", "/validate-pin", [json_type, "X-Request-Id: abc-123"], pin("1234")),
    "validate-pin-form": "\n" + request("POST", "/validate-pin", ["Content-Type: application/x-www-form-urlencoded"],
                                        "pin=4321&callerId=%2B1%20(555)%20123-4567"),
    "validate-pin-wrong-until-blocked": "\n" + "\n===\n".join(
        [request("POST", "/validate-pin", [json_type], pin("0000", "+15559990000"))] * 5),
    "validate-pin-blocked-caller": "\n" + request("POST", "/validate-pin", [json_type], pin("1234", "+1 555 000 1111")),
    "validate-pin-withheld": "\n" + request("POST", "/validate-pin", [json_type], pin("1234", "anonymous")),
    "validate-pin-bad-json": "\n" + request("POST", "/validate-pin", [json_type], '{"pin":1234,"callerId":[]}'),
    "signed-validate-pin": "sh\n" + request("POST", "/validate-pin", [json_type, "Host: calls.example.com"], pin("1234")),
    "signed-blocked-caller": "sh\n" + request("GET", "/blocked-callers/%2B15550001111?x=1"),
    "unsigned-validating": "s\n" + request("POST", "/validate-pin", [json_type, "Host: example.com",
                                           "X-Twilio-Signature: 0JlaMFuTvFnGkEit2qjqjsH0BDA="], pin("1234")),
    "admin-list-and-unblock": "\n" + "\n===\n".join([
        request("GET", "/blocked-callers", [api_key]),
        request("DELETE", "/blocked-callers/+15550001111", [api_key]),
        request("DELETE", "/blocked-callers/+15550001111", [api_key]),
        request("GET", "/blocked-callers", ["apiKey: wrong"])]),
    "debug-routes": "d\n" + "\n===\n".join([
        request("POST", "/blocked-callers/client:alice"),
        request("POST", "/auth-attempts/%2B15551112222"),
        request("GET", "/auth-attempts/+15551112222"),
        request("GET", "/blocked-callers/client:alice")]),
    "twiml-flow": "\n" + "\n===\n".join([
        request("POST", "/twiml/voice", [form_type], "From=%2B15551234567&CallSid=CAfuzz&To=%2B15550000000"),
        request("POST", "/twiml/voice", [form_type], "From=anonymous&CallSid=CAfuzz"),
        request("POST", "/twiml/voice", [form_type], "From=%2B15550001111&CallSid=CAfuzz"),
        request("POST", "/twiml/pin", [form_type], "From=%2B15551234567&CallSid=CAfuzz&Digits=0000"),
        request("POST", "/twiml/pin?tries=1", [form_type], "From=%2B15551234567&CallSid=CAfuzz&Digits=1234"),
        request("POST", "/twiml/pin?tries=x", [form_type], "From=%2B1&CallSid=CAfuzz&Digits=1"),
        request("POST", "/twiml/after-stream", [form_type], "From=%2B15551234567&CallSid=CAfuzz"),
        request("POST", "/twiml/after-stream?poll=1&errors=3", [form_type], "CallSid=CAfuzz"),
        request("POST", "/twiml/after-stream?resume=v1.1.AAAA", [form_type], "CallSid=CAfuzz")]),
    "signed-twiml": "sh\n" + "\n===\n".join([
        request("POST", "/twiml/voice", [form_type, "Host: calls.example.com"], "From=%2B15551234567&CallSid=CAfuzz"),
        request("POST", "/twiml/pin?tries=2", [form_type, "Host: calls.example.com"],
                "From=%2B15551234567&CallSid=CAfuzz&Digits=4321")]),
    "wrong-method-and-path": "\n" + "\n===\n".join([request("PUT", "/validate-pin"), request("GET", "/nope"),
                                                    request("GET", "http://x/"), request("GET", "/blocked-callers/" + "9" * 200)]),
}
for name, text in http.items():
    write("http_request", name + ".txt", text)

# ---- signature: token, URL, presented signature, KEY=VALUE lines, empty line, body ----------
with open(os.path.join(root, "tests", "data", "twilio-signatures.json"), encoding="utf-8") as f:
    vectors = json.load(f)
for v in vectors:
    if len(v["url"]) > 300 or any(len(str(x)) > 300 for x in v["params"].values()):
        continue  # the long-value vectors add length, not shape
    lines = [v["auth_token"], v["url"], v["signature"]]
    for key, value in v["params"].items():
        for one in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={one}")
    text = "\n".join(lines) + "\n\n" + (v["body"] or "")
    write("signature", v["name"] + ".txt", text)

# ---- backend_hosts: allowlist patterns (comma-separated) on line 1, backendHosts JSON after ---
allow = "10.0.0.0/8:8900,*.internal:*,bot.example.com:443,[fd00::]/8:9000"
hosts = {
    "studio-backend-hosts": (allow, compact(["10.0.0.5:8900", "wss://bot.example.com/stream", "speaker.internal:80"])),
    "node-default": ("", compact(["localhost:8888"])),
    "no-port-and-ipv6": ("127.0.0.0/8:*,[::1]:*", compact(["localhost", "[::1]:9000", "[fd00::5]", "ws://[::1]/x?y=1"])),
    "loopback-spellings": ("10.0.0.0/8:*", compact(["[::ffff:127.0.0.1]:80", "[0:0:0:0:0:0:0:1]:80", "127.1:80",
                                                   "2130706433:80", "0177.0.0.1:80", "0x7f.1:80", "localhost.:80"])),
    "mapped-allowlist": ("[::ffff:10.0.0.0]/104:*,127.0.0.1:8888", compact(["[::ffff:10.1.2.3]:80", "127.0.0.1:8888"])),
    "url-forms": ("*:*", compact(["ws://user@127.0.0.1:80/", "ws://[fe80::1%25eth0]:80/", "wss://Bot.Example.COM:443",
                                  "ws://%31%32%37.0.0.1/media", "http://x/"])),
    "single-entry": ("*.example.com:*", "wss://bot.example.com/stream"),
}
for name, (patterns, text) in hosts.items():
    write("backend_hosts", name + ".txt", patterns + "\n" + text)

# ---- pins_file ----------------------------------------------------------------------------
write("pins_file", "demo-pins.json", open(os.path.join(root, "assets", "demo-pins.json"), "rb").read())
write("pins_file", "hosts-and-ids.json", compact([
    {"pin": "1", "backendIds": [1, "two", {"x": 3}], "backendHosts": ["10.0.0.5:8900", "wss://b.example.com/x"]},
    {"pin_sha256": "03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4", "backendHosts": []}]))
write("pins_file", "bad-entry.json", '[{"pin":"1"},{"pin":"2","pin_sha256":"x"}]')
write("pins_file", "bad-host.json", '[{"pin":"1","backendHosts":["no host"]}]')
write("pins_file", "big-number.json", '[{"pin":"1","backendIds":[1e400]}]')

# ---- audio_file: small WAVs of the kinds client-test reads ---------------------------------
def wav(fmt_tag, channels, rate, bits, data, extensible=False):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if fmt_tag != 1:
        chunks += b"fact" + struct.pack("<II", 4, len(data) // block)
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


tone = [math.sin(2 * math.pi * 440 * i / 16000) for i in range(320)]
with open(os.path.join(root, "assets", "sample-call-ulaw.wav"), "rb") as f:
    sample = f.read()
data_at = sample.index(b"data") + 8
write("audio_file", "ulaw-8k-mono.wav", wav(7, 1, 8000, 8, sample[data_at + 4000:data_at + 4480]))
write("audio_file", "pcm16-16k-stereo.wav",
      wav(1, 2, 16000, 16, b"".join(struct.pack("<hh", int(s * 12000), int(s * -8000)) for s in tone)))
write("audio_file", "pcm16-8k-mono.wav", wav(1, 1, 8000, 16, b"".join(struct.pack("<h", int(s * 20000)) for s in tone[:160])))
write("audio_file", "float-44k-mono.wav", wav(3, 1, 44100, 32, b"".join(struct.pack("<f", s * 0.5) for s in tone)))
write("audio_file", "alaw-8k-mono.wav", wav(6, 1, 8000, 8, bytes(range(0, 256, 2))))
write("audio_file", "pcm8-11k-mono.wav", wav(1, 1, 11025, 8, bytes((128 + int(s * 100)) & 0xFF for s in tone)))
