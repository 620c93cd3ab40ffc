#include "proxy/callers/pin_budget.h"

#include <algorithm>
#include <utility>

namespace callproxy::proxy {

PinFailureBudgets::Admission PinFailureBudgets::admit(std::string_view source, Clock::time_point now) {
  Admission admission;
  std::lock_guard lock(mutex_);
  if (policy_.global > 0) {
    if (!global_started_ || expired(global_, now)) {
      global_ = Window{now, 0, false};
      global_started_ = true;
    }
    if (global_.used >= policy_.global) {
      admission.refused = PinBudget::global;
      admission.tripped = !std::exchange(global_.tripped, true);
      return admission;
    }
  }
  Window* from_source = nullptr;
  if (policy_.per_source > 0 && !source.empty()) {
    auto it = sources_.find(std::string(source));
    if (it == sources_.end()) {
      if (sources_.size() >= policy_.max_sources && now >= prune_after_) prune(now);
      // Still full of live sources: this one is held by the global budget alone until room is made.
      if (sources_.size() < policy_.max_sources)
        it = sources_.emplace(std::string(source), Window{now, 0, false}).first;
    }
    if (it != sources_.end()) {
      if (expired(it->second, now)) it->second = Window{now, 0, false};
      if (it->second.used >= policy_.per_source) {
        admission.refused = PinBudget::source;
        admission.tripped = !std::exchange(it->second.tripped, true);
        return admission;
      }
      from_source = &it->second;
    }
  }
  if (policy_.global > 0) {
    ++global_.used;
    admission.ticket.global = true;
    admission.ticket.global_window = global_.start;
  }
  if (from_source) {
    ++from_source->used;
    admission.ticket.source = std::string(source);
    admission.ticket.source_window = from_source->start;
  }
  return admission;
}

void PinFailureBudgets::refund(const Ticket& ticket) {
  std::lock_guard lock(mutex_);
  // Only into the window it was taken from: a new window starts from nothing anyway.
  if (ticket.global && global_started_ && global_.start == ticket.global_window && global_.used > 0) --global_.used;
  if (ticket.source.empty()) return;
  const auto it = sources_.find(ticket.source);
  if (it != sources_.end() && it->second.start == ticket.source_window && it->second.used > 0) {
    if (--it->second.used == 0) prune_after_ = Clock::time_point::min();  // it may be pruned now
  }
}

std::size_t PinFailureBudgets::tracked_sources() const {
  std::lock_guard lock(mutex_);
  return sources_.size();
}

void PinFailureBudgets::prune(Clock::time_point now) {
  auto oldest = Clock::time_point::max();
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (expired(it->second, now) || it->second.used == 0) {
      it = sources_.erase(it);
    } else {
      oldest = std::min(oldest, it->second.start);
      ++it;
    }
  }
  // Until the oldest window left is over, another walk would find nothing to drop (a refund to
  // zero brings the next walk forward).
  prune_after_ = oldest == Clock::time_point::max() ? now : oldest + policy_.window;
}

}  // namespace callproxy::proxy
