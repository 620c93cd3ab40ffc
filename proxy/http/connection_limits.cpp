#include "proxy/http/connection_limits.h"

#include <algorithm>

namespace callproxy::proxy {

Lease ConnectionLimits::take(std::atomic<std::size_t>& count, std::size_t max) {
  auto now = count.load(std::memory_order_relaxed);
  do {
    if (now >= max) return {};
  } while (!count.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return Lease(count);
}

Lease ConnectionLimits::take_source(std::string_view source) {
  std::lock_guard lock(sources_mutex_);
  if (sources_.size() >= sweep_at_) {
    for (auto it = sources_.begin(); it != sources_.end();) {
      it = it->second->load(std::memory_order_acquire) == 0 ? sources_.erase(it) : std::next(it);
    }
    sweep_at_ = std::max<std::size_t>(1024, 2 * sources_.size());
  }
  auto& count = sources_[std::string(source)];
  if (!count) count = std::make_unique<std::atomic<std::size_t>>(0);
  return take(*count, max_per_source_);
}

ConnectionLimits::Admission ConnectionLimits::admit_connection(std::string_view source) {
  Lease from_source;
  if (max_per_source_ > 0) {
    from_source = take_source(source);
    if (!from_source) return {};
  }
  if (auto lease = take(connections_, max_connections_)) return {Place::full, std::move(lease), std::move(from_source)};
  if (auto lease = take(probes_, probe_reserve)) return {Place::probe, std::move(lease), std::move(from_source)};
  return {};
}

std::uint64_t ConnectionLimits::note_refusal(std::chrono::steady_clock::time_point now) {
  refused_since_report_.fetch_add(1, std::memory_order_relaxed);
  const auto ticks = now.time_since_epoch().count();
  auto due = next_report_.load(std::memory_order_relaxed);
  if (ticks < due) return 0;
  const auto next = (now + std::chrono::seconds(10)).time_since_epoch().count();
  if (!next_report_.compare_exchange_strong(due, next, std::memory_order_relaxed)) return 0;
  return refused_since_report_.exchange(0, std::memory_order_relaxed);
}

std::uint64_t reserved_descriptors(std::size_t loops) {
  return 32 + 4 * static_cast<std::uint64_t>(loops) + ConnectionLimits::probe_reserve;
}

Result<DescriptorPlan> plan_descriptors(std::uint64_t fd_limit, std::size_t loops, std::size_t max_backends_per_call,
                                        std::size_t max_connections, std::size_t max_calls) {
  const auto reserved = reserved_descriptors(loops);
  const std::uint64_t least = reserved + 16;
  if (fd_limit < least) {
    return Error{"the file descriptor limit (RLIMIT_NOFILE, " + std::to_string(fd_limit) +
                 ") is too low for serve with " + std::to_string(loops) + " event loops: it needs at least " +
                 std::to_string(least)};
  }
  const auto available = fd_limit - reserved;
  const std::uint64_t backends = max_backends_per_call;
  if (max_connections > available) {
    return Error{"--max-connections " + std::to_string(max_connections) +
                 " leaves serve no descriptors of its own: with a descriptor limit of " + std::to_string(fd_limit) +
                 " it can take at most " + std::to_string(available)};
  }
  DescriptorPlan plan;
  plan.max_calls = max_calls;
  if (!plan.max_calls) {
    plan.max_calls = static_cast<std::size_t>(std::max<std::uint64_t>(1, available / (2 + backends)));
    if (max_connections) plan.max_calls = std::min(plan.max_calls, max_connections);
  }
  const auto for_backends = plan.max_calls * backends;
  plan.max_connections = max_connections ? max_connections
                         : for_backends < available
                             ? static_cast<std::size_t>(available - for_backends)
                             : static_cast<std::size_t>(std::min<std::uint64_t>(plan.max_calls, available));
  if (plan.max_calls > plan.max_connections) {
    return Error{"--max-calls " + std::to_string(plan.max_calls) + " is more than --max-connections " +
                 std::to_string(plan.max_connections) +
                 (max_connections ? "" : " (derived from the descriptor limit)") + ": every call is a connection"};
  }
  const auto worst = plan.max_connections + for_backends + reserved;
  if (worst > fd_limit) {
    plan.warning = "at " + std::to_string(plan.max_calls) + " calls naming " + std::to_string(backends) +
                   " backends each and " + std::to_string(plan.max_connections) + " connections, serve could need " +
                   std::to_string(worst) + " file descriptors, more than its limit of " + std::to_string(fd_limit) +
                   ": past it, backend links fail and new connections wait";
  }
  return plan;
}

}  // namespace callproxy::proxy
