// The callers API's settings: where PINs are checked, who may use the admin routes, and the
// attempt policy that blocks a caller.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

#include "proxy/callers/pin_budget.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {

// The shortest --api-key serve takes: a short key could be guessed by asking.
inline constexpr std::size_t min_api_key_chars = 16;

// Why `key` cannot be serve's --api-key (too short), or empty when it can (an empty key, no key,
// is for the caller to judge). The key itself is never part of it: it is a secret.
inline std::string api_key_problem(const std::string& key) {
  if (key.empty() || key.size() >= min_api_key_chars) return {};
  // A team coming from the Node service, which took any key, meets this first: say how out.
  return "--api-key (SERVER_API_KEY) must be at least " + std::to_string(min_api_key_chars) +
         " characters; the one given has " + std::to_string(key.size()) +
         ". Make one with `openssl rand -hex 24` and set it first where the old key is used: on the Node instances "
         "and in what calls the admin routes (docs/migrating.md, Rolling swap), then here";
}

// The built-in call flow (POST /twiml/voice, /twiml/pin): what callers hear and how the PIN is
// gathered. Prompts go through the XML writer, so any text is safe in them.
struct TwimlOptions {
  std::string welcome = "Welcome. Please enter your PIN, then press the hash key.";
  std::string wrong_pin = "That PIN was not recognised.";
  std::string goodbye = "Goodbye.";
  std::string connecting = "Connecting you now.";
  std::string try_later = "Sorry, your PIN cannot be checked right now. Please try again later. Goodbye.";
  std::string voice;                  // <Say voice>; empty: Twilio's default voice
  std::string language = "en-US";     // <Say language>; empty: Twilio's default
  unsigned pin_digits = 4;            // <Gather numDigits>; 0: the caller ends the PIN with '#'
  unsigned gather_timeout = 10;       // <Gather timeout>, seconds of silence before the goodbye
  unsigned max_tries = 3;             // wrong PINs one call may enter before it is said goodbye to
  std::vector<std::string> backends;  // backendHosts for PINs that name no backend

  // After the stream (docs/call-control.md): the flow's <Redirect> to /twiml/after-stream acts on
  // the bot's decision, else on this policy: "goodbye", "reconnect" (a new stream, at most
  // max_reconnects times per call), or "dial:<+E.164 or sip: URI>" (a person).
  std::string after_stream = "goodbye";
  unsigned max_reconnects = 3;
  std::string handoff_url;  // where an "end" with handoff data goes; empty: the policy applies
};

// --after-stream, read: what a stream that ended without a decision leads to.
struct AfterStreamPolicy {
  enum class Kind { goodbye, reconnect, dial } kind = Kind::goodbye;
  std::string dial;  // Kind::dial: the number or SIP URI
};
// An error names what the setting takes.
Result<AfterStreamPolicy> parse_after_stream(std::string_view text);
// --handoff-url: empty when fine (an absolute http:// or https:// URL without spaces), else why not.
std::string handoff_url_error(std::string_view url);

struct CallersOptions {
  std::string pins_file;  // empty: every PIN is refused (warned at start)
  std::string pin_api;    // SERVER_API_HOST: the identity API asked when the pins file does not match
  std::chrono::milliseconds pin_api_timeout{10'000};  // SERVER_API_TIMEOUT_MS
  std::string api_key;  // SERVER_API_KEY for the admin routes (min_api_key_chars or more); empty refuses everyone
  bool debug_routes = false;
  AttemptPolicy attempts;
  PinBudgetPolicy pin_budget;  // failures allowed whatever the caller ID (per source: without validation)
  TwimlOptions twiml;
};

}  // namespace callproxy::proxy
