// The line logged when a request is answered 503 (or the TwiML flow's "try later") because the
// state store could not answer. Clients cause it: one that keeps asking while the store is down
// would write a line per request. Limited per reason (the store's error text) as other lines a
// peer can cause are (media/log_limit.h, one LogSlot per reason): the first is written, then at most one per interval
// saying how many were like it. Shared by every HTTP loop, so behind a lock (taken on errors only).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>

#include "proxy/media/log_limit.h"

namespace callproxy::proxy {

class StoreErrorLog {
 public:
  using Clock = LogSlot::Clock;
  static constexpr std::size_t max_reasons = 32;  // beyond: one shared slot, so the map stays bounded

  explicit StoreErrorLog(Clock::duration interval = std::chrono::seconds(10)) : interval_(interval) {}

  // Logs "state store: <why>" (error level) unless a line for `why` was written within the interval.
  void error(const std::string& why, Clock::time_point now = Clock::now());

 private:
  Clock::duration interval_;
  std::mutex mutex_;
  std::map<std::string, LogSlot, std::less<>> slots_;
  LogSlot overflow_;
};

// serve's own, for the callers API and the TwiML flow.
StoreErrorLog& store_error_log();

}  // namespace callproxy::proxy
