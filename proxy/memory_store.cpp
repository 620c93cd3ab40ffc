// The in-memory store: a mutex-guarded map touched at call start/refresh/end and by the HTTP
// routes, never per media frame.
#include <charconv>
#include <mutex>
#include <unordered_map>

#include "proxy/state_store.h"

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
  std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> connected_;
};

}  // namespace

std::unique_ptr<StateStore> make_memory_store() { return std::make_unique<MemoryStore>(); }

twilio::Result<StoreSpec> parse_store_spec(std::string_view text) {
  if (text == "memory") return StoreSpec{StoreSpec::Memory{}};
  if (text.rfind("sqlite:", 0) == 0) {
    const auto path = text.substr(7);
    if (path.empty()) return twilio::Error{"--store sqlite:PATH needs a path"};
    return StoreSpec{StoreSpec::Sqlite{std::string(path)}};
  }
  if (text.rfind("redis://", 0) == 0) {
    auto rest = text.substr(8);
    StoreSpec::Redis redis;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
      const auto db = rest.substr(slash + 1);
      const auto [ptr, ec] = std::from_chars(db.data(), db.data() + db.size(), redis.db);
      if (ec != std::errc() || ptr != db.data() + db.size() || redis.db < 0) {
        return twilio::Error{"--store: redis database must be a number, got '" + std::string(db) + "'"};
      }
      rest = rest.substr(0, slash);
    }
    if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
      const auto port = rest.substr(colon + 1);
      unsigned value = 0;
      const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
        return twilio::Error{"--store: redis port must be 1-65535, got '" + std::string(port) + "'"};
      }
      redis.port = static_cast<std::uint16_t>(value);
      rest = rest.substr(0, colon);
    }
    if (rest.empty()) return twilio::Error{"--store redis://HOST:PORT[/DB] needs a host"};
    redis.host = std::string(rest);
    return StoreSpec{redis};
  }
  return twilio::Error{"--store must be memory, sqlite:PATH or redis://HOST:PORT[/DB], got '" + std::string(text) + "'"};
}

}  // namespace callproxy::proxy
