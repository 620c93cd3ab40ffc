// The in-memory store: a mutex-guarded map touched at call start/refresh/end and by the HTTP
// routes, never per media frame. An operation takes effect at once, under the lock; its callback
// runs later on the store's own thread, in the order the operations were made.
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "proxy/store/execution_marks.h"
#include "proxy/store/state_store.h"
#include "proxy/store/store_thread.h"

namespace callproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

class MemoryStore final : public StateStore {
 public:
  explicit MemoryStore(const StoreLimits& limits) : limits_(limits), marks_(limits.prune_interval) {}

  std::string describe() const override { return "memory"; }

  void mark_connected(const std::string& id, const std::string& owner, MarkUpdate update, std::chrono::milliseconds ttl,
                      std::function<void(StoreResult<Done>)> done) override {
    marks_.mark(id, owner, update, ttl);
    answer(std::move(done), Done{});
  }

  void clear_connected(const std::string& id, const std::string& owner,
                       std::function<void(StoreResult<Done>)> done) override {
    marks_.clear(id, owner);
    answer(std::move(done), Done{});
  }

  void is_connected(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    answer(std::move(done), marks_.is_connected(id));
  }

  void claim_stream_token(const std::string& token_id, std::chrono::milliseconds ttl,
                          std::function<void(StoreResult<bool>)> done) override {
    bool claimed = false;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      prune_if_due(now);
      auto [it, added] = tokens_.try_emplace(token_id, now + ttl);
      claimed = added || it->second <= now;  // an expired claim is no claim
      if (claimed) it->second = now + ttl;
    }
    answer(std::move(done), claimed);
  }

  void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    CallerState state;
    {
      std::lock_guard lock(mutex_);
      state = snapshot(id);
    }
    answer(std::move(done), std::move(state));
  }

  void record_failure(const std::string& id, const AttemptPolicy& policy,
                      std::function<void(StoreResult<CallerState>)> done) override {
    CallerState state;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      prune_if_due(now);
      auto& a = attempts_[id];
      if (a.expires <= now) a.count = 0;
      ++a.count;
      a.expires = now + policy.ttl;
      if (a.count > policy.allowed && !blocked_.count(id)) blocked_[id] = iso8601_now();
      state = snapshot(id);
    }
    answer(std::move(done), std::move(state));
  }

  void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    {
      std::lock_guard lock(mutex_);
      attempts_.erase(id);
    }
    answer(std::move(done), Done{});
  }

  void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    CallerState state;
    {
      std::lock_guard lock(mutex_);
      blocked_.try_emplace(id, iso8601_now());
      state = snapshot(id);
    }
    answer(std::move(done), std::move(state));
  }

  void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    bool was_blocked = false;
    {
      std::lock_guard lock(mutex_);
      was_blocked = blocked_.erase(id) > 0;
      attempts_.erase(id);
    }
    answer(std::move(done), was_blocked);
  }

  void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) override {
    std::vector<CallerState> out;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, on] : blocked_) out.push_back(snapshot(id));
    }
    answer(std::move(done), std::move(out));
  }

  void put_value(const std::string& key, const std::string& value, std::chrono::milliseconds ttl,
                 std::function<void(StoreResult<Done>)> done) override {
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      prune_if_due(now);
      values_[key] = Value{value, now + ttl};
    }
    answer(std::move(done), Done{});
  }

  void get_value(const std::string& key, bool remove,
                 std::function<void(StoreResult<std::optional<std::string>>)> done) override {
    std::optional<std::string> value;
    {
      std::lock_guard lock(mutex_);
      if (const auto it = values_.find(key); it != values_.end()) {
        if (it->second.expires > Clock::now()) value = it->second.text;
        if (remove || !value) values_.erase(it);
      }
    }
    answer(std::move(done), std::move(value));
  }

  void increment(const std::string& key, std::chrono::milliseconds ttl,
                 std::function<void(StoreResult<long long>)> done) override {
    long long count = 0;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      prune_if_due(now);
      auto& value = values_[key];
      if (value.expires <= now) value = Value{"0", now + ttl};
      count = std::stoll(value.text) + 1;
      value.text = std::to_string(count);
    }
    answer(std::move(done), count);
  }

  void count_records(std::function<void(StoreResult<RecordCounts>)> done) override {
    RecordCounts counts;
    {
      std::lock_guard lock(mutex_);
      counts.attempts = attempts_.size();
      counts.stream_tokens = tokens_.size();
      counts.values = values_.size();
    }
    counts.executions = marks_.size();
    answer(std::move(done), counts);
  }

 private:
  struct Value {
    std::string text;
    Clock::time_point expires{};
  };
  struct Attempts {
    int count = 0;
    Clock::time_point expires{};
  };

  // The callback, later, on the store's thread (unbounded: each answer is ready and quick).
  template <class T>
  void answer(std::function<void(StoreResult<T>)> done, T value) {
    completions_.post([done = std::move(done), value = std::move(value)]() mutable { done(std::move(value)); });
  }

  // Under the lock.
  CallerState snapshot(const std::string& id) const {
    CallerState state{id, 0, false, {}};
    if (const auto it = attempts_.find(id); it != attempts_.end() && it->second.expires > Clock::now()) {
      state.attempts = it->second.count;
    }
    if (const auto it = blocked_.find(id); it != blocked_.end()) {
      state.blocked = true;
      state.blocked_on = it->second;
    }
    return state;
  }

  // Under the lock: callers whose attempts expired and tokens whose claims expired are forgotten,
  // so that rotating caller IDs and every call's new token cannot grow the maps without bound.
  void prune_if_due(Clock::time_point now) {
    if (now - last_prune_ < limits_.prune_interval) return;
    last_prune_ = now;
    std::erase_if(attempts_, [now](const auto& entry) { return entry.second.expires <= now; });
    std::erase_if(tokens_, [now](const auto& entry) { return entry.second <= now; });
    std::erase_if(values_, [now](const auto& entry) { return entry.second.expires <= now; });
  }

  StoreLimits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, Attempts> attempts_;
  std::map<std::string, std::string> blocked_;
  std::unordered_map<std::string, Clock::time_point> tokens_;  // used stream tokens, until their claims expire
  std::unordered_map<std::string, Value> values_;              // put_value's and increment's, until they expire
  Clock::time_point last_prune_{};
  ExecutionMarks marks_;
  StoreThread completions_{"memory store"};  // last: gone first, once its queue has run
};

}  // namespace

std::unique_ptr<StateStore> make_memory_store(const StoreLimits& limits) {
  return std::make_unique<MemoryStore>(limits);
}

std::unique_ptr<StateStore> open_store(const StoreSpec& spec, const StoreLimits& limits) {
  if (std::holds_alternative<StoreSpec::Memory>(spec.kind)) return make_memory_store(limits);
  if (const auto* sqlite = std::get_if<StoreSpec::Sqlite>(&spec.kind)) return make_sqlite_store(sqlite->path, limits);
  return make_redis_store(std::get<StoreSpec::Redis>(spec.kind), limits);
}

std::string iso8601_now() {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, static_cast<int>(millis));
  return out;
}

}  // namespace callproxy::proxy
