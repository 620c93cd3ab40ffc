// How long to wait before the next reconnection attempt: doubling from a first delay up to a
// cap (100 ms, 200 ms, 400 ms ... 2 s by default), back to the first once a connection holds.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace callproxy::net {

class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds first = std::chrono::milliseconds(100),
                   std::chrono::milliseconds cap = std::chrono::milliseconds(2000))
      : first_(first), cap_(cap) {}

  // The delay before the next attempt; each call doubles the one after, up to the cap.
  std::chrono::milliseconds next() {
    const std::chrono::milliseconds doubled = first_ * (std::int64_t{1} << std::min(attempts_, 20));
    const auto delay = std::min(cap_, doubled);
    ++attempts_;
    return delay;
  }
  void reset() { attempts_ = 0; }
  // Attempts since the last reset (0: the first failure of a run is about to be handled).
  int attempts() const { return attempts_; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds cap_;
  int attempts_ = 0;
};

}  // namespace callproxy::net
