// Everything `callproxy serve` is configured with, validated before the server starts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/backend_target.h"
#include "proxy/pin_budget.h"
#include "proxy/state_store.h"

namespace callproxy::proxy {

enum class BackendFormat { simple, twilio };
enum class ReplyPolicy { first, none };

struct ServeOptions {
  std::string bind = "0.0.0.0";
  std::uint16_t port = 8999;  // 0 picks a free port (logged at start)
  unsigned threads = 0;       // event loops; 0 = one per hardware thread
  std::chrono::milliseconds drain_timeout{30'000};

  // Backends.
  std::vector<std::string> default_backends;  // for calls whose start names none
  BackendAllowlist backend_allowlist;         // empty: any backend
  BackendFormat backend_format = BackendFormat::simple;
  ReplyPolicy replies = ReplyPolicy::first;
  bool backend_reconnect = true;
  std::chrono::milliseconds backend_reconnect_window{10'000};  // give up after this long
  std::chrono::milliseconds max_backend_lag{2'000};            // audio queued behind a backend
  std::chrono::milliseconds backend_connect_timeout{5'000};
  std::string backend_ca;  // extra CA file for wss:// backends

  // Who may stream to us.
  bool validate_signatures = false;  // VALIDATE_EXTERNAL_CALLS
  std::string auth_token;            // TWILIO_AUTH_TOKEN; never logged
  std::string public_url;            // base URL Twilio uses, when behind a proxy
  std::string tls_cert, tls_key;     // serve https:// and wss:// directly

  // Callers: PINs, attempts, blocks.
  std::string pins_file;   // empty: every PIN is refused (warned at start)
  std::string pin_api;     // SERVER_API_HOST: the identity API asked when the pins file does not match
  std::chrono::milliseconds pin_api_timeout{10'000};  // SERVER_API_TIMEOUT_MS
  std::string api_key;     // SERVER_API_KEY for the admin routes; empty refuses everyone
  bool debug_routes = false;
  AttemptPolicy attempts;
  PinBudgetPolicy pin_budget;  // failures allowed whatever the caller ID (per source: without validation)

  // State.
  std::string store = "sqlite:./callproxy.db";
  std::chrono::milliseconds execution_ttl{5'000};      // the Node service's 5 s mark ...
  std::chrono::milliseconds execution_refresh{4'000};  // ... refreshed every 4 s

  // Safety limits.
  std::size_t max_message_bytes = 64 * 1024;  // one WebSocket message, either direction
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{30'000};  // an HTTP connection with no request
  std::size_t max_reply_queue = 1024;              // messages waiting to go to Twilio
};

}  // namespace callproxy::proxy
