// Executions' "connected" marks held in this process's memory, each with its owner (the stream
// that claimed it) and its expiry: the memory store's, and the SQLite store's, which keeps them
// off its file (sqlite_store.cpp says why). Thread-safe; nothing here blocks for long.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "proxy/store/state_store.h"

namespace callproxy::proxy {

class ExecutionMarks {
 public:
  explicit ExecutionMarks(std::chrono::milliseconds prune_interval) : prune_interval_(prune_interval) {}

  // A claim (or a refresh of a mark that has no live owner) makes `owner` the owner; a refresh
  // by another stream extends the mark and leaves its owner be.
  void mark(const std::string& id, const std::string& owner, MarkUpdate update, std::chrono::milliseconds ttl);
  // Only the owner clears a mark.
  void clear(const std::string& id, const std::string& owner);
  bool is_connected(const std::string& id);
  std::size_t size();  // marks held, expired ones included until pruned

 private:
  using Clock = std::chrono::steady_clock;
  struct Mark {
    std::string owner;
    Clock::time_point expires;
  };
  void prune_if_due(Clock::time_point now);  // under the lock

  std::chrono::milliseconds prune_interval_;
  std::mutex mutex_;
  std::unordered_map<std::string, Mark> marks_;
  Clock::time_point last_prune_{};
};

}  // namespace callproxy::proxy
