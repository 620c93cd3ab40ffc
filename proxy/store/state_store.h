// Shared state behind serve: which Studio executions have a live stream, which callers are
// blocked and how many wrong PINs they have entered, which stream tokens have been used. Asynchronous by contract: an
// operation returns at once and its callback runs later, on a thread of the store's own, never inline in the caller; so
// no store ever blocks an event loop. Every store bounds what may wait on it: an operation it cannot take or finish in
// time is answered with an error, never left hanging.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "proxy/store/store_spec.h"

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

// What every store bounds.
struct StoreLimits {
  // Operations that may wait at once (SQLite: its queue; Redis: commands awaiting replies); one
  // more is answered with a "busy" error at once (the routes answer 503).
  std::size_t max_queued = 1000;
  // SQLite: the longest an operation may wait, in the queue and for a file another process has
  // locked, before it is answered with an error. (Redis has its own 2 s reply deadline.)
  std::chrono::milliseconds operation_timeout{5000};
  // Expired attempt records and execution marks are removed on a write, at most this often.
  // Redis expires its keys by itself.
  std::chrono::milliseconds prune_interval{60'000};
};

// A stream's "connected" mark: claimed when the stream starts (it becomes the mark's owner),
// refreshed while it lives (the mark lives on; another stream that has claimed it since keeps it).
enum class MarkUpdate { claim, refresh };

// Records a store holds, expired ones included until they are pruned.
struct RecordCounts {
  std::size_t attempts = 0;       // callers with failed PIN attempts
  std::size_t executions = 0;     // "connected" marks
  std::size_t stream_tokens = 0;  // used stream tokens
  std::size_t values = 0;         // put_value's values and increment's counters
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual std::string describe() const = 0;  // for logs, never with credentials

  // The mark expires by itself after `ttl` unless refreshed (a dead process leaves none behind).
  // `owner` is a token unique to one stream: only the stream that owns the mark clears it, so
  // that the end of one stream never clears the mark of another, live one naming the same
  // execution (a Stream widget started again, say).
  virtual void mark_connected(const std::string& execution_id, const std::string& owner, MarkUpdate update,
                              std::chrono::milliseconds ttl, std::function<void(StoreResult<Done>)> done) = 0;
  // Clears the mark if `owner` owns it; otherwise leaves it be (its owner clears it, or it expires).
  virtual void clear_connected(const std::string& execution_id, const std::string& owner,
                               std::function<void(StoreResult<Done>)> done) = 0;
  virtual void is_connected(const std::string& execution_id, std::function<void(StoreResult<bool>)> done) = 0;

  // A stream token serves one stream: the first to present it claims its id
  // (twilio::stream_token_id) until `ttl` from now. true: this claim took it; false: it was
  // claimed before and that claim has not expired. Atomic across everyone who shares the store
  // (instances on one Redis, processes on one SQLite file): of concurrent claims, one wins.
  virtual void claim_stream_token(const std::string& token_id, std::chrono::milliseconds ttl,
                                  std::function<void(StoreResult<bool>)> done) = 0;

  // Callers. Every operation is atomic: concurrent failures all count.
  virtual void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) = 0;
  virtual void record_failure(const std::string& id, const AttemptPolicy& policy,
                              std::function<void(StoreResult<CallerState>)> done) = 0;
  virtual void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) = 0;
  virtual void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) = 0;
  // Unblocks and clears attempts; the result says whether the caller was blocked.
  virtual void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) = 0;
  virtual void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) = 0;

  // Values of one call that any instance may have to act on (docs/call-control.md): the decision
  // a bot made (decision:<CallSid>), how the call was streamed (stream:<CallSid>) and how often it
  // reconnected (reconnects:<CallSid>). Each expires `ttl` after it was written. Keys are
  // serve's own ("decision:" + a bounded CallSid); values are bounded by their writers.
  virtual void put_value(const std::string& key, const std::string& value, std::chrono::milliseconds ttl,
                         std::function<void(StoreResult<Done>)> done) = 0;
  // The value, or nullopt when there is none (or it expired). With `remove`, atomically read and
  // removed: of two instances taking one decision, one gets it.
  virtual void get_value(const std::string& key, bool remove,
                         std::function<void(StoreResult<std::optional<std::string>>)> done) = 0;
  // Adds one to a counter and answers its new value (1 for the first); the counter expires `ttl`
  // after its first increment. Atomic across everyone who shares the store.
  virtual void increment(const std::string& key, std::chrono::milliseconds ttl,
                         std::function<void(StoreResult<long long>)> done) = 0;

  // For tests and diagnostics: what the store holds. Redis, whose keys expire by themselves (and
  // which other instances share), answers an error.
  virtual void count_records(std::function<void(StoreResult<RecordCounts>)> done) = 0;
};

// In-process store for tests and throwaway runs; state dies with the process.
std::unique_ptr<StateStore> make_memory_store(const StoreLimits& limits = {});

// SQLite file store (WAL, one transaction per operation) on its own worker thread; survives
// restarts and kill -9. A new file (and its WAL and shared memory) is readable by its owner
// alone. Execution marks are kept in memory, off the file (sqlite_store.cpp says why). Throws
// std::invalid_argument when `path` names something other than a regular file (a FIFO, a
// device), std::runtime_error naming the file when it cannot be opened; a read-only file is opened
// for reading (writes then fail, with a clear error).
std::unique_ptr<StateStore> make_sqlite_store(const std::string& path, const StoreLimits& limits = {});

// Redis (RESP2, hiredis's reader and formatter over an Asio socket, TLS for rediss://, on the
// store's own thread); connects in the background (AUTH, SELECT) and reconnects by itself.
// Throws std::invalid_argument when the spec cannot work (a CA file that cannot be loaded).
std::unique_ptr<StateStore> make_redis_store(const StoreSpec::Redis& spec, const StoreLimits& limits = {});

// Opens what --store names.
std::unique_ptr<StateStore> open_store(const StoreSpec& spec, const StoreLimits& limits = {});

// Now as ISO-8601 UTC with milliseconds ("2026-11-25T16:00:00.000Z"), as JavaScript prints dates.
std::string iso8601_now();

}  // namespace callproxy::proxy
