// The built-in call flow: Twilio's voice webhook answered with TwiML, so that one URL on a
// Twilio number does what a Studio flow would (blocked check, PIN gather, PIN check, stream).
//   POST /twiml/voice  (From, CallSid, ...): blocked or withheld -> goodbye; else <Gather> the PIN
//   POST /twiml/pin    (Digits, From, CallSid, ...; ?tries=N): the /validate-pin policy, then
//                      <Connect><Stream> (or <Start><Stream> with --stream-mode fork), the
//                      gather again, goodbye, or "try later"
//   POST /twiml/after-stream (CallSid, ...): after the stream, the bot's decision (hangup,
//                      transfer, handoff) or --after-stream (goodbye, reconnect, dial)
// Both are signed routes; every answer is 200 text/xml except a malformed request (400).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "proxy/callers/caller_routes.h"
#include "proxy/callers/callers_options.h"
#include "proxy/http/request_signing.h"
#include "proxy/http/router.h"
#include "proxy/media/media_options.h"

namespace callproxy::proxy {

struct TwimlApi {
  CallerApi& callers;
  const TwimlOptions& options;
  const MediaOptions& media;             // the stream mode, the stream token secret and TTL
  const SignatureOptions& signatures;    // --public-url: where Twilio reaches us
  std::atomic<bool> warned_host{false};  // the stream URL came from a Host header (said once)
  // What a stream token's expiry counts from (now + the TTL); tests give a time of their own.
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
};

void add_twiml_routes(Router& router, TwimlApi& api);

// The <Stream url>: --public-url with its scheme made wss:// (https:// and wss:// -> wss://,
// http:// and ws:// -> ws://) + "/media"; without one, wss://<host>/media.
std::string twiml_stream_url(std::string_view public_url, std::string_view host);
// Where the <Gather action> goes: --public-url made https:// (or http://) + "/twiml/pin", or the
// relative "/twiml/pin" without one (Twilio resolves it against the webhook's own URL).
std::string twiml_pin_action(std::string_view public_url, unsigned tries);
// Where the flow goes once a <Connect><Stream> is over: --public-url (made http(s)://) +
// "/twiml/after-stream", or that path alone without one.
std::string twiml_after_stream_url(std::string_view public_url);

}  // namespace callproxy::proxy
