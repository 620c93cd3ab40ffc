// The in-memory store: a mutex-guarded map touched at call start/refresh/end and by the HTTP
// routes, never per media frame.
#include <charconv>
#include <ctime>
#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "proxy/store/state_store.h"

namespace callproxy::proxy {
namespace {

using Clock = std::chrono::steady_clock;

class MemoryStore final : public StateStore {
 public:
  std::string describe() const override { return "memory"; }

  void mark_connected(const std::string& id, std::chrono::milliseconds ttl,
                      std::function<void(StoreResult<Done>)> done) override {
    {
      std::lock_guard lock(mutex_);
      connected_[id] = Clock::now() + ttl;
    }
    done(Done{});
  }

  void clear_connected(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    {
      std::lock_guard lock(mutex_);
      connected_.erase(id);
    }
    done(Done{});
  }

  void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    CallerState state;
    {
      std::lock_guard lock(mutex_);
      state = snapshot(id);
    }
    done(state);
  }

  void record_failure(const std::string& id, const AttemptPolicy& policy,
                      std::function<void(StoreResult<CallerState>)> done) override {
    CallerState state;
    {
      std::lock_guard lock(mutex_);
      auto& a = attempts_[id];
      if (a.expires <= Clock::now()) a.count = 0;
      ++a.count;
      a.expires = Clock::now() + policy.ttl;
      if (a.count > policy.allowed && !blocked_.count(id)) blocked_[id] = iso8601_now();
      state = snapshot(id);
    }
    done(state);
  }

  void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    {
      std::lock_guard lock(mutex_);
      attempts_.erase(id);
    }
    done(Done{});
  }

  void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    CallerState state;
    {
      std::lock_guard lock(mutex_);
      blocked_.try_emplace(id, iso8601_now());
      state = snapshot(id);
    }
    done(state);
  }

  void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    bool was_blocked = false;
    {
      std::lock_guard lock(mutex_);
      was_blocked = blocked_.erase(id) > 0;
      attempts_.erase(id);
    }
    done(was_blocked);
  }

  void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) override {
    std::vector<CallerState> out;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, on] : blocked_) out.push_back(snapshot(id));
    }
    done(std::move(out));
  }

  void is_connected(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    bool live = false;
    {
      std::lock_guard lock(mutex_);
      const auto it = connected_.find(id);
      if (it != connected_.end()) {
        live = it->second > Clock::now();
        if (!live) connected_.erase(it);
      }
    }
    done(live);
  }

 private:
  struct Attempts {
    int count = 0;
    Clock::time_point expires{};
  };

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

  std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> connected_;
  std::unordered_map<std::string, Attempts> attempts_;
  std::map<std::string, std::string> blocked_;
};

}  // namespace

std::unique_ptr<StateStore> make_memory_store() { return std::make_unique<MemoryStore>(); }

std::unique_ptr<StateStore> open_store(const StoreSpec& spec) {
  if (std::holds_alternative<StoreSpec::Memory>(spec.kind)) return make_memory_store();
  if (const auto* sqlite = std::get_if<StoreSpec::Sqlite>(&spec.kind)) return make_sqlite_store(sqlite->path);
  return make_redis_store(std::get<StoreSpec::Redis>(spec.kind));
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

Result<StoreSpec> parse_store_spec(std::string_view text) {
  if (text == "memory") return StoreSpec{StoreSpec::Memory{}};
  if (text.rfind("sqlite:", 0) == 0) {
    const auto path = text.substr(7);
    if (path.empty()) return Error{"--store sqlite:PATH needs a path"};
    return StoreSpec{StoreSpec::Sqlite{std::string(path)}};
  }
  if (text.rfind("redis://", 0) == 0) {
    auto rest = text.substr(8);
    StoreSpec::Redis redis;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
      const auto db = rest.substr(slash + 1);
      const auto [ptr, ec] = std::from_chars(db.data(), db.data() + db.size(), redis.db);
      if (ec != std::errc() || ptr != db.data() + db.size() || redis.db < 0) {
        return Error{"--store: redis database must be a number, got '" + std::string(db) + "'"};
      }
      rest = rest.substr(0, slash);
    }
    if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
      const auto port = rest.substr(colon + 1);
      unsigned value = 0;
      const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
        return Error{"--store: redis port must be 1-65535, got '" + std::string(port) + "'"};
      }
      redis.port = static_cast<std::uint16_t>(value);
      rest = rest.substr(0, colon);
    }
    if (rest.empty()) return Error{"--store redis://HOST:PORT[/DB] needs a host"};
    redis.host = std::string(rest);
    return StoreSpec{redis};
  }
  return Error{"--store must be memory, sqlite:PATH or redis://HOST:PORT[/DB], got '" + std::string(text) + "'"};
}

}  // namespace callproxy::proxy
