// Log lines a peer can trigger, limited per reason: the first is written, then at most one per
// interval, saying how many were suppressed since the last. A flood of bad messages then costs a
// counter increment each, not a write to stderr under the logger's lock that stalls the loop.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

namespace callproxy {

// One kind of line: the first is written, then at most one per interval.
class LogSlot {
 public:
  using Clock = std::chrono::steady_clock;

  // When a line may be written now: how many were suppressed before it.
  std::optional<std::uint64_t> allow(Clock::time_point now, Clock::duration interval) {
    if (logged_ && now - last_ < interval) {
      ++suppressed_;
      return std::nullopt;
    }
    logged_ = true;
    last_ = now;
    return std::exchange(suppressed_, 0);
  }

 private:
  bool logged_ = false;
  Clock::time_point last_{};
  std::uint64_t suppressed_ = 0;
};

// A slot per reason of an enum (ending in `count`).
template <class Reason>
class LogLimit {
 public:
  using Clock = LogSlot::Clock;
  explicit LogLimit(Clock::duration interval = std::chrono::seconds(10)) : interval_(interval) {}

  // When a line for `reason` may be written now: how many were suppressed before it.
  std::optional<std::uint64_t> allow(Reason reason, Clock::time_point now = Clock::now()) {
    return slots_[static_cast<std::size_t>(reason)].allow(now, interval_);
  }

 private:
  Clock::duration interval_;
  std::array<LogSlot, static_cast<std::size_t>(Reason::count)> slots_{};
};

}  // namespace callproxy
