// The callers API's settings: where PINs are checked, who may use the admin routes, and the
// attempt policy that blocks a caller.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "proxy/callers/pin_budget.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {

// The shortest --api-key serve takes: a short key could be guessed by asking.
inline constexpr std::size_t min_api_key_chars = 16;

struct CallersOptions {
  std::string pins_file;  // empty: every PIN is refused (warned at start)
  std::string pin_api;    // SERVER_API_HOST: the identity API asked when the pins file does not match
  std::chrono::milliseconds pin_api_timeout{10'000};  // SERVER_API_TIMEOUT_MS
  std::string api_key;  // SERVER_API_KEY for the admin routes (min_api_key_chars or more); empty refuses everyone
  bool debug_routes = false;
  AttemptPolicy attempts;
  PinBudgetPolicy pin_budget;  // failures allowed whatever the caller ID (per source: without validation)
};

}  // namespace callproxy::proxy
