// Everything `callproxy serve` is configured with: each room's own options, aggregated, plus
// what only the wiring uses. Validated before the server starts.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "proxy/callers/callers_options.h"
#include "proxy/http/http_options.h"
#include "proxy/http/request_signing.h"
#include "proxy/media/media_options.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {

struct ServeOptions {
  unsigned threads = 0;  // event loops; 0 = one per hardware thread
  std::chrono::milliseconds drain_timeout{30'000};
  // A drain hands live calls over (docs/call-control.md): their streams are closed at once and
  // the call flow (--after-stream reconnect) reconnects them through the load balancer to an
  // instance that stays. serve keeps answering HTTP for drain_handover_grace after, for the flow's
  // requests the balancer sends it. Needs --after-stream reconnect.
  bool drain_handover = false;
  std::string store = "sqlite:./callproxy.db";  // --store, see parse_store_spec
  StoreLimits store_limits;                     // --store-max-queue
  // For a redis[s]:// store: the password when the URL carries none (REDIS_PASSWORD), the key
  // scheme, and a CA for rediss:// besides the system's.
  std::string redis_password;
  RedisKeys redis_keys = RedisKeys::node;
  std::string redis_ca;
  // Listening beyond loopback with neither signatures nor a backend allowlist is warned about at
  // start; this says it is meant (a lab, a trusted network).
  bool insecure_open_relay = false;

  HttpOptions http;
  SignatureOptions signatures;  // who may stream to us and call the signed routes
  MediaOptions media;
  CallersOptions callers;
};

// The settings SIGHUP applies to a running serve (keys: flag names without --). Each is read once
// per call or connection, from a snapshot replaced whole: the log level; the default backends, the
// backend allowlist and --start-timeout for new calls (a live call keeps what it started with);
// the TLS certificate and key for new connections. Any other that changed needs a restart.
inline bool is_live_setting(std::string_view key) {
  return key == "log-level" || key == "backend" || key == "backend-allow" || key == "start-timeout" ||
         key == "tls-cert" || key == "tls-key";
}

// SIGHUP's reading of the settings again (the command line serve was started with, the
// environment and the config file), as the CLI makes them.
struct ReloadedSettings {
  ServeOptions options;
  std::string log_level;
  // The settings whose value changed: a live one since the last reload applied, any other since
  // start (it still needs a restart).
  std::vector<std::string> changed;
  // Called once the settings are in place: they are what the next reload is compared with.
  std::function<void()> applied;
};
// Throws nothing: an error says why the settings could not be read (the file's line and column...).
using ReadSettings = std::function<Result<ReloadedSettings>()>;

}  // namespace callproxy::proxy
