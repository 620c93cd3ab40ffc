// Log lines a peer can trigger, limited per reason: the first is written, then at most one per
// interval, saying how many were suppressed since the last. A flood of bad messages then costs a
// counter increment each, not a write to stderr under the logger's lock that stalls the loop.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

namespace callproxy::proxy {

template <class Reason>
class LogLimit {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogLimit(Clock::duration interval = std::chrono::seconds(10)) : interval_(interval) {}

  // When a line for `reason` may be written now: how many were suppressed before it.
  std::optional<std::uint64_t> allow(Reason reason, Clock::time_point now = Clock::now()) {
    auto& slot = slots_[static_cast<std::size_t>(reason)];
    if (slot.logged && now - slot.last < interval_) {
      ++slot.suppressed;
      return std::nullopt;
    }
    slot.logged = true;
    slot.last = now;
    const auto suppressed = slot.suppressed;
    slot.suppressed = 0;
    return suppressed;
  }

 private:
  struct Slot {
    bool logged = false;
    Clock::time_point last{};
    std::uint64_t suppressed = 0;
  };
  Clock::duration interval_;
  std::array<Slot, static_cast<std::size_t>(Reason::count)> slots_{};
};

}  // namespace callproxy::proxy
