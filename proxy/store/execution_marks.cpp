#include "proxy/store/execution_marks.h"

namespace callproxy::proxy {

void ExecutionMarks::mark(const std::string& id, const std::string& owner, MarkUpdate update,
                          std::chrono::milliseconds ttl) {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  prune_if_due(now);
  auto [it, added] = marks_.try_emplace(id, Mark{owner, now + ttl});
  if (added) return;
  auto& mark = it->second;
  if (update == MarkUpdate::claim || mark.owner == owner || mark.expires <= now) mark.owner = owner;
  mark.expires = now + ttl;
}

void ExecutionMarks::clear(const std::string& id, const std::string& owner) {
  std::lock_guard lock(mutex_);
  if (const auto it = marks_.find(id); it != marks_.end() && it->second.owner == owner) marks_.erase(it);
}

bool ExecutionMarks::is_connected(const std::string& id) {
  std::lock_guard lock(mutex_);
  const auto it = marks_.find(id);
  if (it == marks_.end()) return false;
  if (it->second.expires > Clock::now()) return true;
  marks_.erase(it);
  return false;
}

std::size_t ExecutionMarks::size() {
  std::lock_guard lock(mutex_);
  return marks_.size();
}

// Marks whose stream ended without its own clear (a non-owner's end, a killed call) and that
// nobody asks about would otherwise stay.
void ExecutionMarks::prune_if_due(Clock::time_point now) {
  if (now - last_prune_ < prune_interval_) return;
  last_prune_ = now;
  std::erase_if(marks_, [now](const auto& entry) { return entry.second.expires <= now; });
}

}  // namespace callproxy::proxy
