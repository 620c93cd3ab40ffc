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

// Which keys the Redis store reads and writes.
enum class RedisKeys {
  // The Node twilio-call-proxy's keys and values, so old and new instances share one Redis:
  // blocked-callers-<id> = {"id","blockedOn"} (no expiry), auth-attempts-<id> = the count as
  // decimal text (EX the attempts TTL, restarted by each failure), executions-<id> = the id (EX 5).
  // Listing the blocked callers scans the keyspace (KEYS blocked-callers*), as the Node service did.
  node,
  // callproxy's own: callproxy:attempts:<id>, one hash callproxy:blocked (listing reads one key),
  // callproxy:execution:<id>.
  callproxy,
};

// --store: "memory", "sqlite:PATH" or "redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB]".
struct StoreSpec {
  struct Memory {};
  struct Sqlite {
    std::string path;
  };
  struct Redis {
    std::string host;
    std::uint16_t port = 6379;
    int db = 0;
    bool tls = false;      // rediss://: TLS, the server's certificate verified against its name
    std::string user;      // AUTH user password (a Redis 6 ACL user) when set, else AUTH password
    std::string password;  // never logged; empty: no AUTH
    RedisKeys keys = RedisKeys::node;
    std::string ca_file;  // rediss://: a CA trusted besides the system's
  };
  std::variant<Memory, Sqlite, Redis> kind;
};
// User and password in the URL are percent-decoded; an IPv6 host is written in brackets.
Result<StoreSpec> parse_store_spec(std::string_view text);
Result<RedisKeys> parse_redis_keys(std::string_view text);  // "node" or "callproxy"

// In-process store for tests and throwaway runs; state dies with the process.
std::unique_ptr<StateStore> make_memory_store();

// SQLite file store (WAL, one transaction per operation) on its own worker thread; survives
// restarts and kill -9. Throws std::runtime_error naming the file when it cannot be opened.
std::unique_ptr<StateStore> make_sqlite_store(const std::string& path);

// Redis (RESP2, hiredis's reader and formatter over an Asio socket, TLS for rediss://, on the
// store's own thread); connects in the background (AUTH, SELECT) and reconnects by itself.
// Throws std::invalid_argument when the spec cannot work (a CA file that cannot be loaded).
std::unique_ptr<StateStore> make_redis_store(const StoreSpec::Redis& spec);

// Opens what --store names.
std::unique_ptr<StateStore> open_store(const StoreSpec& spec);

// Now as ISO-8601 UTC with milliseconds ("2026-11-25T16:00:00.000Z"), as JavaScript prints dates.
std::string iso8601_now();

}  // namespace callproxy::proxy
