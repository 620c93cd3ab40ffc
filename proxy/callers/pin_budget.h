// Budgets of failed PIN checks that do not depend on the caller ID: one across all callers and
// one per source address. Attempts are counted per caller ID, which the request names, so a
// guesser who rotates caller IDs is stopped only by these. Kept in memory, per process.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/metrics/metrics.h"

namespace callproxy::proxy {

struct PinBudgetPolicy {
  // A caller is blocked after 10 failures, and people mistype a PIN once or twice, so a deployment
  // sees a few failures a minute at worst; 200 in 10 minutes is far beyond that, yet holds a
  // guesser to 200 guesses per 10 minutes (4-digit PINs: days, not minutes) and trips the log and
  // metric within minutes of the attack starting.
  unsigned global = 200;  // failed checks per window across all callers; 0 = no limit
  // One address (an IPv6 /64) is one caller's phone company or one attacker; a quarter of the
  // global budget lets one source trip its own budget before it spends everyone's.
  unsigned per_source = 50;  // failed checks per window from one source; 0 = no limit
  std::chrono::milliseconds window{600'000};
  std::size_t max_sources = 10'000;  // sources tracked at once; expired ones are pruned first
};

class PinFailureBudgets {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PinFailureBudgets(PinBudgetPolicy policy) : policy_(policy) {}

  // What admit() took, to give back with refund().
  struct Ticket {
    bool global = false;
    Clock::time_point global_window{};
    std::string source;  // empty: nothing taken from a source budget
    Clock::time_point source_window{};
  };
  struct Admission {
    std::optional<PinBudget> refused;  // set: that budget is spent and nothing was taken
    bool tripped = false;              // the first refusal of this budget in its window
    Ticket ticket;
  };

  // Before a PIN is checked: takes one failure from each budget in advance, so that concurrent
  // checks (slow identity API answers) cannot overshoot it. `source` empty: the global budget only.
  Admission admit(std::string_view source, Clock::time_point now = Clock::now());
  // The PIN was right, or could not be checked: the failure taken in advance is given back.
  void refund(const Ticket& ticket);

  const PinBudgetPolicy& policy() const { return policy_; }
  std::size_t tracked_sources() const;

 private:
  struct Window {
    Clock::time_point start{};
    unsigned used = 0;
    bool tripped = false;
  };
  // Drops sources whose window is over or that hold no failure. Called when the table is full and
  // a new source comes, but not again before `prune_after_`: with the table full of live sources
  // (global budget off, a flood of addresses) each new source would otherwise walk the whole table.
  void prune(Clock::time_point now);
  bool expired(const Window& w, Clock::time_point now) const { return now - w.start >= policy_.window; }

  PinBudgetPolicy policy_;
  mutable std::mutex mutex_;
  Window global_;
  bool global_started_ = false;
  std::unordered_map<std::string, Window> sources_;
  Clock::time_point prune_after_ = Clock::time_point::min();
};

}  // namespace callproxy::proxy
