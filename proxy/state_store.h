// Shared state behind serve: which Studio executions have a live stream (and, with the callers
// issue, blocks and failed attempts). Asynchronous by contract: an operation returns at once and
// its callback runs later, possibly on another thread, so no store ever blocks a media loop.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "twilio/result.h"

namespace callproxy::proxy {

// Outcome of a store operation: a value, or an error saying why the store could not answer.
template <class T>
using StoreResult = twilio::Result<T>;
struct Done {};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual std::string describe() const = 0;  // for logs, never with credentials

  // The mark expires by itself after `ttl` unless refreshed (a dead process leaves none behind).
  virtual void mark_connected(const std::string& execution_id, std::chrono::milliseconds ttl,
                              std::function<void(StoreResult<Done>)> done) = 0;
  virtual void clear_connected(const std::string& execution_id, std::function<void(StoreResult<Done>)> done) = 0;
  virtual void is_connected(const std::string& execution_id, std::function<void(StoreResult<bool>)> done) = 0;
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
twilio::Result<StoreSpec> parse_store_spec(std::string_view text);

// In-process store for tests and throwaway runs; state dies with the process.
std::unique_ptr<StateStore> make_memory_store();

}  // namespace callproxy::proxy
