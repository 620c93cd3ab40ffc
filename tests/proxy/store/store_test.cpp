// The state stores' own guarantees, beyond the callers contract: asynchronous completion, file
// modes, callbacks that throw, pruning of expired records, execution marks owned by their stream,
// stream tokens claimed once.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>

#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "proxy/store/state_store.h"
#include "support/redis_server.h"
#include "support/wait.h"
#include "test_data.h"

using namespace callproxy;
using namespace std::chrono_literals;

namespace {

// Blocks on a store callback, at most 10 s.
template <class T, class Call>
proxy::StoreResult<T> wait_for(Call call) {
  auto promise = std::make_shared<std::promise<proxy::StoreResult<T>>>();
  auto future = promise->get_future();
  call([promise](proxy::StoreResult<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(10s) != std::future_status::ready) throw std::runtime_error("the store never answered");
  return future.get();
}

// A SQLite file for one test, removed with its WAL and shared-memory files.
struct TempDatabase {
  std::string path = test::temp_path("store.db");
  ~TempDatabase() {
    for (const auto* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};

// A store of `kind` ("memory", "sqlite", "redis" with the Node service's keys, "redis-callproxy").
struct StoreUnderTest {
  StoreUnderTest(const std::string& kind, const proxy::StoreLimits& limits = {}) {
    if (kind == "memory") store = proxy::make_memory_store(limits);
    if (kind == "sqlite") store = proxy::make_sqlite_store(db.path, limits);
    if (kind.rfind("redis", 0) == 0) {
      redis.emplace();
      proxy::StoreSpec::Redis spec;
      spec.host = "127.0.0.1";
      spec.port = redis->port();
      if (kind == "redis-callproxy") spec.keys = proxy::RedisKeys::callproxy;
      store = proxy::make_redis_store(spec, limits);
    }
  }
  ~StoreUnderTest() { store.reset(); }
  TempDatabase db;
  std::optional<test::RedisServer> redis;
  std::unique_ptr<proxy::StateStore> store;
};

bool connected(proxy::StateStore& store, const std::string& id) {
  return wait_for<bool>([&](auto done) { store.is_connected(id, done); }).value();
}

void mark(proxy::StateStore& store, const std::string& id, const std::string& owner, proxy::MarkUpdate update,
          std::chrono::milliseconds ttl = 5s) {
  REQUIRE(wait_for<proxy::Done>([&](auto done) { store.mark_connected(id, owner, update, ttl, done); }).ok());
}

void clear(proxy::StateStore& store, const std::string& id, const std::string& owner) {
  REQUIRE(wait_for<proxy::Done>([&](auto done) { store.clear_connected(id, owner, done); }).ok());
}

bool claim(proxy::StateStore& store, const std::string& token_id, std::chrono::milliseconds ttl = 60s) {
  const auto claimed = wait_for<bool>([&](auto done) { store.claim_stream_token(token_id, ttl, done); });
  REQUIRE(claimed.ok());
  return claimed.value();
}

proxy::RecordCounts counts(proxy::StateStore& store) {
  const auto r = wait_for<proxy::RecordCounts>([&](auto done) { store.count_records(done); });
  REQUIRE(r.ok());
  return r.value();
}

// Another store on what `under_test` uses ("sqlite": its file; "redis": its server), as a second
// process or instance would have it.
std::unique_ptr<proxy::StateStore> second_store(const StoreUnderTest& under_test, const std::string& kind) {
  if (kind == "sqlite") return proxy::make_sqlite_store(under_test.db.path);
  proxy::StoreSpec::Redis spec;
  spec.host = "127.0.0.1";
  spec.port = under_test.redis->port();
  return proxy::make_redis_store(spec);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("no file " + path);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("the memory store answers later on a thread of its own, in the order it was asked", "[store]") {
  auto store = proxy::make_memory_store();
  const auto caller = std::this_thread::get_id();
  std::mutex mutex;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  std::promise<void> all;
  const int n = 20;
  for (int i = 0; i < n; ++i) {
    store->caller("+1", [&, i](proxy::StoreResult<proxy::CallerState> r) {
      REQUIRE(r.ok());
      std::lock_guard lock(mutex);
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
      if (static_cast<int>(order.size()) == n) all.set_value();
    });
  }
  REQUIRE(all.get_future().wait_for(10s) == std::future_status::ready);
  std::lock_guard lock(mutex);
  for (int i = 0; i < n; ++i) CHECK(order[i] == i);
  for (const auto& id : threads) CHECK(id != caller);
}

TEST_CASE("a new SQLite file and its WAL and shared-memory files are readable by their owner alone",
          "[store][sqlite]") {
  TempDatabase db;
  const auto saved = ::umask(0);  // the most permissive umask: the modes must not come from it
  auto store = proxy::make_sqlite_store(db.path);
  ::umask(saved);
  REQUIRE(
      wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+1", proxy::AttemptPolicy{}, done); }).ok());
  CHECK(mode_of(db.path) == 0600);
  CHECK(mode_of(db.path + "-wal") == 0600);
  CHECK(mode_of(db.path + "-shm") == 0600);
}

TEST_CASE("a store callback that throws does not take the store down", "[store]") {
  for (const std::string kind : {"memory", "sqlite", "redis"}) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto& store = under_test.store;
    store->caller("+1", [](proxy::StoreResult<proxy::CallerState>) { throw std::runtime_error("a buggy callback"); });
    // The store still answers (a throw that escaped its thread would have ended the process).
    const auto after = wait_for<proxy::CallerState>([&](auto done) { store->caller("+1", done); });
    CHECK(after.ok());
  }
}

TEST_CASE("only the stream that owns an execution mark clears it, in every store", "[store][executions]") {
  using proxy::MarkUpdate;
  for (const std::string kind : {"memory", "sqlite", "redis", "redis-callproxy"}) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto& store = *under_test.store;
    // A claims, B claims after it (a restarted stream): B owns the mark.
    mark(store, "FN1", "A", MarkUpdate::claim);
    mark(store, "FN1", "B", MarkUpdate::claim);
    // A lives on for a while and refreshes: the mark lives, B keeps it.
    mark(store, "FN1", "A", MarkUpdate::refresh);
    clear(store, "FN1", "A");  // A ends
    CHECK(connected(store, "FN1"));
    clear(store, "FN1", "B");  // B ends
    CHECK_FALSE(connected(store, "FN1"));

    // A refresh of a mark nobody holds any more (expired) takes it over.
    mark(store, "FN2", "A", MarkUpdate::claim, 100ms);
    REQUIRE(test::eventually([&] { return !connected(store, "FN2"); }, 5s));
    mark(store, "FN2", "B", MarkUpdate::refresh);
    clear(store, "FN2", "A");
    CHECK(connected(store, "FN2"));
    clear(store, "FN2", "B");
    CHECK_FALSE(connected(store, "FN2"));

    // Marks expire by themselves.
    mark(store, "FN3", "A", MarkUpdate::claim, 100ms);
    CHECK(connected(store, "FN3"));
    CHECK(test::eventually([&] { return !connected(store, "FN3"); }, 5s));
  }
}

TEST_CASE("expired attempts, marks and token claims are pruned, so rotating IDs do not grow a store", "[store]") {
  for (const std::string kind : {"memory", "sqlite"}) {
    INFO(kind);
    proxy::StoreLimits limits;
    limits.prune_interval = 0ms;  // on every write
    StoreUnderTest under_test(kind, limits);
    auto& store = *under_test.store;
    // Long enough that the 50 writes (slow on a loaded machine) all land before the first expires;
    // the pruning is then waited for, not slept for.
    const auto ttl = 3s;
    const proxy::AttemptPolicy short_lived{9, ttl};
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) {
      REQUIRE(wait_for<proxy::CallerState>([&](auto done) {
                store.record_failure("+1555" + std::to_string(i), short_lived, done);
              }).ok());
      mark(store, "FN" + std::to_string(i), "A", proxy::MarkUpdate::claim,
           std::chrono::duration_cast<std::chrono::milliseconds>(ttl));
      CHECK(claim(store, "T" + std::to_string(i), std::chrono::duration_cast<std::chrono::milliseconds>(ttl)));
    }
    if (std::chrono::steady_clock::now() - started < ttl) {
      CHECK(counts(store).attempts == 50);
      CHECK(counts(store).executions == 50);
      CHECK(counts(store).stream_tokens == 50);
    }
    // The next writes after the expiry remove what expired.
    CHECK(test::eventually(
        [&] {
          REQUIRE(wait_for<proxy::CallerState>([&](auto done) {
                    store.record_failure("+1666", proxy::AttemptPolicy{}, done);
                  }).ok());
          mark(store, "FN-live", "A", proxy::MarkUpdate::claim);
          claim(store, "T-live");  // true the first time, false after: a write either way
          const auto now = counts(store);
          return now.attempts == 1 && now.executions == 1 && now.stream_tokens == 1;
        },
        10s, 100ms));
  }
}

TEST_CASE("a stream token is claimed once, until its claim expires, in every store", "[store][stream-token]") {
  for (const std::string kind : {"memory", "sqlite", "redis", "redis-callproxy"}) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto& store = *under_test.store;
    CHECK(claim(store, "token-1"));
    CHECK_FALSE(claim(store, "token-1"));
    CHECK_FALSE(claim(store, "token-1"));
    CHECK(claim(store, "token-2"));  // another token, another claim

    // A claim that has expired is no claim: the id may be claimed again (once).
    CHECK(claim(store, "token-3", 100ms));
    CHECK_FALSE(claim(store, "token-3", 100ms));
    CHECK(test::eventually([&] { return claim(store, "token-3", 60s); }, 5s));
    CHECK_FALSE(claim(store, "token-3"));

    // Of claims made at once, one wins.
    std::mutex mutex;
    int answers = 0, won = 0;
    for (int i = 0; i < 20; ++i) {
      store.claim_stream_token("token-4", 60s, [&](proxy::StoreResult<bool> r) {
        std::lock_guard lock(mutex);
        ++answers;
        if (r.ok() && r.value()) ++won;
      });
    }
    REQUIRE(test::eventually([&] {
      std::lock_guard lock(mutex);
      return answers == 20;
    }));
    CHECK(won == 1);
  }
}

namespace {

std::optional<std::string> get(proxy::StateStore& store, const std::string& key, bool remove = false) {
  const auto r = wait_for<std::optional<std::string>>([&](auto done) { store.get_value(key, remove, done); });
  REQUIRE(r.ok());
  return r.value();
}

void put(proxy::StateStore& store, const std::string& key, const std::string& value, std::chrono::milliseconds ttl) {
  REQUIRE(wait_for<proxy::Done>([&](auto done) { store.put_value(key, value, ttl, done); }).ok());
}

long long increment(proxy::StateStore& store, const std::string& key, std::chrono::milliseconds ttl = 60s) {
  const auto r = wait_for<long long>([&](auto done) { store.increment(key, ttl, done); });
  REQUIRE(r.ok());
  return r.value();
}

}  // namespace

TEST_CASE("a call's values: put, read, taken once, counted, and gone when they expire, in every store",
          "[store][call-values]") {
  for (const std::string kind : {"memory", "sqlite", "redis", "redis-callproxy"}) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto& store = *under_test.store;
    CHECK_FALSE(get(store, "decision:CA1").has_value());
    put(store, "decision:CA1", R"({"event":"hangup"})", 60s);
    CHECK(get(store, "decision:CA1") == R"({"event":"hangup"})");  // a read leaves it
    put(store, "decision:CA1", "second", 60s);                     // a write replaces it
    CHECK(get(store, "decision:CA1", true) == "second");           // a take removes it
    CHECK_FALSE(get(store, "decision:CA1", true).has_value());
    CHECK_FALSE(get(store, "decision:CA2").has_value());  // keys are separate

    // Any bytes a value may hold come back as they were.
    const std::string text = "caf\xc3\xa9 \"quoted\" & <b> 'x' \\ \n line";
    put(store, "stream:CA1", text, 60s);
    CHECK(get(store, "stream:CA1") == text);

    // Expiry.
    put(store, "decision:CA3", "soon gone", 100ms);
    CHECK(test::eventually([&] { return !get(store, "decision:CA3").has_value(); }, 5s));

    // Counters count from one, and start again once expired.
    CHECK(increment(store, "reconnects:CA1") == 1);
    CHECK(increment(store, "reconnects:CA1") == 2);
    CHECK(increment(store, "reconnects:CA2") == 1);
    CHECK(increment(store, "reconnects:CA4", 2s) == 1);
    CHECK(increment(store, "reconnects:CA4", 2s) == 2);
    CHECK(test::eventually([&] { return increment(store, "reconnects:CA4", 60s) == 1; }, 10s));
    CHECK(increment(store, "reconnects:CA4") == 2);  // a live counter keeps counting (and its expiry)

    // Of takes made at once, one gets the value; of increments made at once, each gets its own count.
    put(store, "decision:CA5", "once", 60s);
    std::mutex mutex;
    int answers = 0, got = 0;
    std::set<long long> counts;
    for (int i = 0; i < 20; ++i) {
      store.get_value("decision:CA5", true, [&](proxy::StoreResult<std::optional<std::string>> r) {
        std::lock_guard lock(mutex);
        ++answers;
        if (r.ok() && r.value()) ++got;
      });
      store.increment("reconnects:CA5", 60s, [&](proxy::StoreResult<long long> r) {
        std::lock_guard lock(mutex);
        ++answers;
        if (r.ok()) counts.insert(r.value());
      });
    }
    REQUIRE(test::eventually([&] {
      std::lock_guard lock(mutex);
      return answers == 40;
    }));
    CHECK(got == 1);
    CHECK(counts.size() == 20);
    CHECK(*counts.rbegin() == 20);
  }
}

TEST_CASE("a call's decision written through one store is taken once through another on the same file or Redis",
          "[store][call-values]") {
  for (const std::string kind : {"sqlite", "redis"}) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto other = second_store(under_test, kind);
    put(*under_test.store, "decision:CA9", "transfer", 60s);
    CHECK(increment(*under_test.store, "reconnects:CA9") == 1);
    CHECK(increment(*other, "reconnects:CA9") == 2);
    CHECK(get(*other, "decision:CA9", true) == "transfer");
    CHECK_FALSE(get(*under_test.store, "decision:CA9", true).has_value());
    other.reset();
  }
}

TEST_CASE("two stores on one SQLite file or one Redis: of claims racing through both, one wins",
          "[store][stream-token]") {
  for (const std::string kind : {"sqlite", "redis"}) {
    INFO(kind);
    StoreUnderTest under_test(kind);
    auto other = second_store(under_test, kind);
    const int tokens = 50;
    std::mutex mutex;
    int answers = 0;
    std::map<int, int> won;  // per token: claims won, through either store
    int errors = 0;
    const auto count = [&](int token) {
      return [&, token](proxy::StoreResult<bool> r) {
        std::lock_guard lock(mutex);
        ++answers;
        if (!r.ok()) ++errors;
        else if (r.value()) ++won[token];
      };
    };
    // Each from its own thread, through its own store (its own connection), at once.
    std::thread first([&] {
      for (int i = 0; i < tokens; ++i) under_test.store->claim_stream_token("race-" + std::to_string(i), 60s, count(i));
    });
    std::thread second([&] {
      for (int i = 0; i < tokens; ++i) other->claim_stream_token("race-" + std::to_string(i), 60s, count(i));
    });
    first.join();
    second.join();
    REQUIRE(test::eventually([&] {
      std::lock_guard lock(mutex);
      return answers == 2 * tokens;
    }));
    CHECK(errors == 0);
    for (int i = 0; i < tokens; ++i) CHECK(won[i] == 1);
    other.reset();
  }
}

TEST_CASE("a SQLite file locked by another process: a full queue answers busy at once, the rest by the deadline",
          "[store][sqlite]") {
  TempDatabase db;
  proxy::StoreLimits limits;
  limits.max_queued = 2;
  limits.operation_timeout = 500ms;
  auto store = proxy::make_sqlite_store(db.path, limits);
  REQUIRE(wait_for<proxy::CallerState>([&](auto done) { store->block("+1", done); }).ok());

  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(db.path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  using Clock = std::chrono::steady_clock;
  struct Outcome {
    bool ok = false;
    std::string error;
    Clock::duration took{};
  };
  std::mutex mutex;
  std::vector<Outcome> outcomes;
  std::promise<void> all;
  const int n = 10;
  const auto asked = Clock::now();
  for (int i = 0; i < n; ++i) {
    store->record_failure("+2", proxy::AttemptPolicy{}, [&](proxy::StoreResult<proxy::CallerState> r) {
      std::lock_guard lock(mutex);
      outcomes.push_back({r.ok(), r.ok() ? "" : r.error(), Clock::now() - asked});
      if (static_cast<int>(outcomes.size()) == n) all.set_value();
    });
  }
  REQUIRE(all.get_future().wait_for(10s) == std::future_status::ready);
  int busy_at_once = 0;
  for (const auto& o : outcomes) {
    CHECK_FALSE(o.ok);
    CHECK(o.took < 2s);  // none waits past its deadline (500 ms) by much
    if (o.error.find("operations already wait") != std::string::npos && o.took < 200ms) ++busy_at_once;
  }
  // Two queued wait for the lock, and one under way if the worker took the first before the
  // last were asked; the others are refused at once.
  CHECK(busy_at_once >= n - 3);
  CHECK(busy_at_once <= n - 2);

  // Reads do not need the write lock (WAL).
  CHECK(wait_for<proxy::CallerState>([&](auto done) { store->caller("+1", done); }).value().blocked);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  CHECK(wait_for<proxy::CallerState>([&](auto done) { store->record_failure("+2", proxy::AttemptPolicy{}, done); })
            .value()
            .attempts == 1);
}
