// Everything `callproxy serve` is configured with: each room's own options, aggregated, plus
// what only the wiring uses. Validated before the server starts.
#pragma once

#include <chrono>
#include <string>

#include "proxy/callers/callers_options.h"
#include "proxy/http/http_options.h"
#include "proxy/http/request_signing.h"
#include "proxy/media/media_options.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {

struct ServeOptions {
  unsigned threads = 0;  // event loops; 0 = one per hardware thread
  std::chrono::milliseconds drain_timeout{30'000};
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

}  // namespace callproxy::proxy
