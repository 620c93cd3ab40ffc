// Shared state behind serve: which Studio executions have a live stream, which callers are
// blocked and how many wrong PINs they have entered. Asynchronous by contract: an operation
// returns at once and its callback runs later, possibly on another thread, so no store ever
// blocks an event loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/result.h"

namespace callproxy::proxy {

// Outcome of a store operation: a value, or an error saying why the store could not answer.
template <class T>
using StoreResult = Result<T>;
struct Done {};

// One caller as the callers API reports it.
struct CallerState {
  std::string id;
  int attempts = 0;  // failed PIN attempts still counting (not expired)
  bool blocked = false;
  std::string blocked_on;  // ISO-8601 UTC, when blocked
};

// The rule every store applies atomically on a failed attempt: the count grows by one and
// expires `ttl` after this failure; more than `allowed` failures block the caller.
struct AttemptPolicy {
  int allowed = 9;                  // INVALID_AUTH_ATTEMPTS_ALLOWED: the 10th failure blocks
  std::chrono::seconds ttl{86400};  // INVALID_AUTH_ATTEMPTS_CACHE_TTL_SECONDS
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual std::string describe() const = 0;  // for logs, never with credentials

  // The mark expires by itself after `ttl` unless refreshed (a dead process leaves none behind).
  virtual void mark_connected(const std::string& execution_id, std::chrono::milliseconds ttl,
                              std::function<void(StoreResult<Done>)> done) = 0;
  virtual void clear_connected(const std::string& execution_id, std::function<void(StoreResult<Done>)> done) = 0;
  virtual void is_connected(const std::string& execution_id, std::function<void(StoreResult<bool>)> done) = 0;

  // Callers. Every operation is atomic: concurrent failures all count.
  virtual void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) = 0;
  virtual void record_failure(const std::string& id, const AttemptPolicy& policy,
                              std::function<void(StoreResult<CallerState>)> done) = 0;
  virtual void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) = 0;
  virtual void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) = 0;
  // Unblocks and clears attempts; the result says whether the caller was blocked.
  virtual void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) = 0;
  virtual void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) = 0;
};

// --store: "memory", "sqlite:PATH" or "redis://HOST:PORT[/DB]".
struct StoreSpec {
  struct Memory {};
  struct Sqlite {
    std::string path;
  };
  struct Redis {
    std::string host;
    std::uint16_t port = 6379;
    int db = 0;
  };
  std::variant<Memory, Sqlite, Redis> kind;
};
Result<StoreSpec> parse_store_spec(std::string_view text);

// In-process store for tests and throwaway runs; state dies with the process.
std::unique_ptr<StateStore> make_memory_store();

// SQLite file store (WAL, one transaction per operation) on its own worker thread; survives
// restarts and kill -9. Throws std::runtime_error naming the file when it cannot be opened.
std::unique_ptr<StateStore> make_sqlite_store(const std::string& path);

// Redis (RESP2, hiredis's reader and formatter over an Asio socket on the store's own thread);
// connects in the background and reconnects by itself.
std::unique_ptr<StateStore> make_redis_store(const StoreSpec::Redis& spec);

// Opens what --store names.
std::unique_ptr<StateStore> open_store(const StoreSpec& spec);

// Now as ISO-8601 UTC with milliseconds ("2026-11-25T16:00:00.000Z"), as JavaScript prints dates.
std::string iso8601_now();

}  // namespace callproxy::proxy
