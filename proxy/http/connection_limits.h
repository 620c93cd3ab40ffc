// How many connections and calls serve takes at once, so that a flood of connections can never
// use up its file descriptors: past --max-connections a connection is read only if it asks for a
// health probe (a small reserve of such places, so /healthz answers at the cap), past that it is
// answered 503 at once; past --max-calls a /media upgrade is answered 503 before the upgrade.
// Both limits default to what the descriptor limit allows (plan_descriptors). With
// --max-connections-per-source, one source (net/source_key.h) gets no more than that many of
// the places, so one host cannot take them all (off behind a balancer: every client is its one).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/result.h"

namespace callproxy::proxy {

// One place of a count, held until destroyed (or moved from).
class Lease {
 public:
  Lease() = default;
  explicit Lease(std::atomic<std::size_t>& count) : count_(&count) {}
  Lease(Lease&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      release();
      count_ = std::exchange(other.count_, nullptr);
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  explicit operator bool() const { return count_ != nullptr; }
  void release() {
    // release: a sweep that sees 0 (acquire) frees the counter only after this is done with it
    if (count_) count_->fetch_sub(1, std::memory_order_release);
    count_ = nullptr;
  }

 private:
  std::atomic<std::size_t>* count_ = nullptr;
};

class ConnectionLimits {
 public:
  // Connections past max_connections that are still read, for health probes only.
  static constexpr std::size_t probe_reserve = 8;

  // `max_per_source` 0: no per-source cap.
  ConnectionLimits(std::size_t max_connections, std::size_t max_calls, std::size_t max_per_source = 0)
      : max_connections_(max_connections), max_calls_(max_calls), max_per_source_(max_per_source) {}

  enum class Place {
    full,   // a connection like any other
    probe,  // past the cap: a health probe is answered, anything else 503
    none,   // past the reserve too: answered 503 without being read
  };
  struct Admission {
    Place place = Place::none;
    Lease lease;   // empty for Place::none
    Lease source;  // the place among its source's (with a per-source cap; else empty)
  };
  // From any thread. `source`: the peer's source_key(); past its cap the answer is Place::none.
  Admission admit_connection(std::string_view source = {});
  // A place among the calls; empty at --max-calls.
  Lease admit_call() { return take(calls_, max_calls_); }

  std::size_t max_connections() const { return max_connections_; }
  std::size_t max_calls() const { return max_calls_; }

  // Counts a connection refused for the limit. Returns how many were refused since the last
  // report when one is due (at most one per 10 s, for a log line), else 0.
  std::uint64_t note_refusal(std::chrono::steady_clock::time_point now);

 private:
  static Lease take(std::atomic<std::size_t>& count, std::size_t max);

  Lease take_source(std::string_view source);

  std::size_t max_connections_;
  std::size_t max_calls_;
  std::size_t max_per_source_;
  // Connections per source. A count's node never moves; a source whose count is back at 0 is
  // erased by the next sweep (no lease refers to it then: leases are only made under the lock).
  std::mutex sources_mutex_;
  std::unordered_map<std::string, std::unique_ptr<std::atomic<std::size_t>>> sources_;
  std::size_t sweep_at_ = 1024;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> probes_{0};
  std::atomic<std::size_t> calls_{0};
  std::atomic<std::uint64_t> refused_since_report_{0};
  std::atomic<std::chrono::steady_clock::rep> next_report_{0};
};

// The descriptors serve keeps for itself besides its connections and backend links: standard
// streams, each event loop's epoll/eventfd/timerfd, the listener, the store, the identity API,
// DNS, certificate files, and the health-probe reserve.
std::uint64_t reserved_descriptors(std::size_t loops);

struct DescriptorPlan {
  std::size_t max_connections = 0;
  std::size_t max_calls = 0;
  std::string warning;  // not empty: limits given that could outgrow the descriptor limit
};

// The limits for a descriptor limit (RLIMIT_NOFILE's soft limit) and `loops` event loops, where
// a call holds its connection and up to `max_backends_per_call` backend links.
// `max_connections`/`max_calls` are the flags' values, 0 to derive them: the descriptors left
// after reserved_descriptors() go to calls at 2 + max_backends_per_call each (a call's
// descriptors and as many again for HTTP; never more than the connections given), and to
// connections what the calls' backends leave.
// An error when a flag asks for more than the descriptors allow or the limit is too low for serve.
Result<DescriptorPlan> plan_descriptors(std::uint64_t fd_limit, std::size_t loops, std::size_t max_backends_per_call,
                                        std::size_t max_connections, std::size_t max_calls);

}  // namespace callproxy::proxy
