// The in-memory store: a mutex-guarded map touched at call start/refresh/end and by the HTTP
// routes, never per media frame. An operation takes effect at once, under the lock; its callback
// runs later on the store's own thread, in the order the operations were made.
#include <charconv>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "proxy/store/execution_marks.h"
#include "proxy/store/state_store.h"
#include "proxy/store/store_thread.h"
#include "twilio/percent_encoding.h"

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

  void count_records(std::function<void(StoreResult<RecordCounts>)> done) override {
    RecordCounts counts;
    {
      std::lock_guard lock(mutex_);
      counts.attempts = attempts_.size();
      counts.stream_tokens = tokens_.size();
    }
    counts.executions = marks_.size();
    answer(std::move(done), counts);
  }

 private:
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
  }

  StoreLimits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, Attempts> attempts_;
  std::map<std::string, std::string> blocked_;
  std::unordered_map<std::string, Clock::time_point> tokens_;  // used stream tokens, until their claims expire
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

namespace {

Result<StoreSpec> parse_redis_url(std::string_view text) {
  const auto fail = [](const std::string& why) { return Error{"--store: " + why}; };
  StoreSpec::Redis redis;
  redis.tls = text.rfind("rediss://", 0) == 0;
  auto rest = text.substr(redis.tls ? 9 : 8);
  if (rest.find_first_of("?#") != std::string_view::npos) return fail("a redis URL takes no query or fragment");
  // [[user]:password@]host[:port][/db]; the password may be anything but '@' (or %40), so the
  // host starts after the last '@'.
  std::string_view authority = rest;
  if (const auto slash = rest.find('/', rest.rfind('@') == std::string_view::npos ? 0 : rest.rfind('@'));
      slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    const auto db = rest.substr(slash + 1);
    if (!db.empty()) {
      const auto [ptr, ec] = std::from_chars(db.data(), db.data() + db.size(), redis.db);
      if (ec != std::errc() || ptr != db.data() + db.size() || redis.db < 0) {
        return fail("redis database must be a number, got '" + std::string(db) + "'");
      }
    }
  }
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    const auto user = twilio::percent_decode_strict(userinfo.substr(0, colon));
    const auto password = colon == std::string_view::npos ? std::optional<std::string>("")
                                                          : twilio::percent_decode_strict(userinfo.substr(colon + 1));
    if (!user || !password) return fail("bad %-escape in the redis URL's user or password");
    redis.user = *user;
    redis.password = *password;
    if (colon == std::string_view::npos && !redis.user.empty()) {
      return fail("redis URL names user '" + redis.user + "' without a password (redis://USER:PASSWORD@HOST)");
    }
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in the redis host");
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("expected ':PORT' after the redis host");
      port = after.substr(1);
      if (port.empty()) return fail("redis port must be 1-65535, got ''");
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return fail("redis port must be 1-65535, got ''");
  }
  if (!port.empty()) {
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return fail("redis port must be 1-65535, got '" + std::string(port) + "'");
    }
    redis.port = static_cast<std::uint16_t>(value);
  }
  if (host.empty()) return fail("redis[s]://HOST[:PORT][/DB] needs a host");
  if (host.find_first_of(" /@[]") != std::string_view::npos)
    return fail("invalid redis host '" + std::string(host) + "'");
  redis.host = std::string(host);
  return StoreSpec{redis};
}

}  // namespace

Result<StoreSpec> parse_store_spec(std::string_view text) {
  if (text == "memory") return StoreSpec{StoreSpec::Memory{}};
  if (text.rfind("sqlite:", 0) == 0) {
    const auto path = text.substr(7);
    if (path.empty()) return Error{"--store sqlite:PATH needs a path"};
    return StoreSpec{StoreSpec::Sqlite{std::string(path)}};
  }
  if (text.rfind("redis://", 0) == 0 || text.rfind("rediss://", 0) == 0) return parse_redis_url(text);
  // Never echo a redis URL back: it may hold a password.
  if (text.find('@') != std::string_view::npos) {
    return Error{"--store must be memory, sqlite:PATH or redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB]"};
  }
  return Error{"--store must be memory, sqlite:PATH or redis[s]://[USER:PASSWORD@]HOST[:PORT][/DB], got '" +
               std::string(text) + "'"};
}

Result<RedisKeys> parse_redis_keys(std::string_view text) {
  if (text == "node") return RedisKeys::node;
  if (text == "callproxy") return RedisKeys::callproxy;
  return Error{"--redis-keys must be node or callproxy, got '" + std::string(text) + "'"};
}

}  // namespace callproxy::proxy
