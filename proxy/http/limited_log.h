// Log lines a client can cause with a request: a signature refused, a state store or PIN API
// that cannot answer. One that keeps asking would write a line per request (and one with a long
// path, 16 KiB of it per line). Limited per reason as the media path's lines are
// (core/log_limit.h, one LogSlot per reason): the first is written, then at most one per
// interval saying how many were like it. Shared by every HTTP loop, so behind a lock (taken on
// refusals and errors only).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/log_limit.h"
#include "core/log_text.h"

namespace callproxy::proxy {

class LimitedLog {
 public:
  using Clock = LogSlot::Clock;
  enum class Level { warn, error };
  static constexpr std::size_t max_reasons = 32;  // beyond: one shared slot, so the map stays bounded

  // Every line starts with `prefix` ("state store: ").
  explicit LimitedLog(Level level, std::string prefix = {}, Clock::duration interval = std::chrono::seconds(10))
      : level_(level), prefix_(std::move(prefix)), interval_(interval) {}

  // Writes prefix + `line` unless a line for `reason` was written within the interval; the next
  // one written for it says how many were left out.
  void write(std::string_view reason, std::string_view line, Clock::time_point now = Clock::now());
  // A line that is its own reason (a store's error text).
  void write(std::string_view line, Clock::time_point now = Clock::now()) { write(line, line, now); }

 private:
  Level level_;
  std::string prefix_;
  Clock::duration interval_;
  std::mutex mutex_;
  std::map<std::string, LogSlot, std::less<>> slots_;
  LogSlot overflow_;
};

// serve's own: the state store's errors ("state store: ", error level), requests refused for
// their signature (warn), a PIN API that could not answer (error).
LimitedLog& store_error_log();
LimitedLog& signature_refusal_log();
LimitedLog& pin_api_error_log();

}  // namespace callproxy::proxy
