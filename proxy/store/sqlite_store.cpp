// The SQLite store: one connection owned by one worker thread, operations queued to it, each in
// its own transaction. WAL journal and synchronous=NORMAL: a committed block survives kill -9
// (and, with WAL, a power loss costs at most the last transactions, never consistency).
#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "proxy/store/state_store.h"

namespace callproxy::proxy {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::int64_t now_ms() {
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(sqlite3_db_handle(stmt_)));
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string text(int column) const {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStore final : public StateStore {
 public:
  explicit SqliteStore(std::string path) : path_(std::move(path)) {
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("--store sqlite:" + path_ + ": cannot open: " + why);
    }
    sqlite3_busy_timeout(db_, 5000);  // another serve on the same file waits, not fails
    try {
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      exec("CREATE TABLE IF NOT EXISTS blocked_callers (id TEXT PRIMARY KEY, blocked_on TEXT NOT NULL)");
      exec("CREATE TABLE IF NOT EXISTS auth_attempts (id TEXT PRIMARY KEY, attempts INTEGER NOT NULL, "
           "expires_ms INTEGER NOT NULL)");
      exec("CREATE TABLE IF NOT EXISTS connected_executions (id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL)");
    } catch (const std::exception& e) {
      sqlite3_close(db_);
      throw std::runtime_error("--store sqlite:" + path_ + ": " + e.what());
    }
    worker_ = std::thread([this] { work(); });
  }

  ~SqliteStore() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    worker_.join();
    sqlite3_close(db_);
  }

  std::string describe() const override { return "sqlite:" + path_; }

  void mark_connected(const std::string& id, milliseconds ttl, std::function<void(StoreResult<Done>)> done) override {
    run<Done>(std::move(done), [this, id, ttl] {
      Statement(db_, "INSERT INTO connected_executions (id, expires_ms) VALUES (?1, ?2) "
                     "ON CONFLICT(id) DO UPDATE SET expires_ms = excluded.expires_ms")
          .bind(1, id)
          .bind(2, now_ms() + ttl.count())
          .step();
      return Done{};
    });
  }

  void clear_connected(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    run<Done>(std::move(done), [this, id] {
      Statement(db_, "DELETE FROM connected_executions WHERE id = ?1").bind(1, id).step();
      return Done{};
    });
  }

  void is_connected(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    run<bool>(std::move(done), [this, id] {
      Statement q(db_, "SELECT 1 FROM connected_executions WHERE id = ?1 AND expires_ms > ?2");
      return q.bind(1, id).bind(2, now_ms()).step();
    });
  }

  void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    run<CallerState>(std::move(done), [this, id] { return snapshot(id); });
  }

  void record_failure(const std::string& id, const AttemptPolicy& policy,
                      std::function<void(StoreResult<CallerState>)> done) override {
    run<CallerState>(std::move(done), [this, id, policy] {
      Transaction tx(*this);
      const auto now = now_ms();
      // An expired count starts again at one; every failure pushes the expiry out.
      Statement(db_,
                "INSERT INTO auth_attempts (id, attempts, expires_ms) VALUES (?1, 1, ?2) "
                "ON CONFLICT(id) DO UPDATE SET attempts = CASE WHEN expires_ms <= ?3 THEN 1 ELSE attempts + 1 END, "
                "expires_ms = excluded.expires_ms")
          .bind(1, id)
          .bind(2, now + duration_cast<milliseconds>(policy.ttl).count())
          .bind(3, now)
          .step();
      auto state = snapshot(id);
      if (state.attempts > policy.allowed && !state.blocked) {
        Statement(db_, "INSERT OR IGNORE INTO blocked_callers (id, blocked_on) VALUES (?1, ?2)")
            .bind(1, id)
            .bind(2, iso8601_now())
            .step();
        state = snapshot(id);
      }
      tx.commit();
      return state;
    });
  }

  void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    run<Done>(std::move(done), [this, id] {
      Statement(db_, "DELETE FROM auth_attempts WHERE id = ?1").bind(1, id).step();
      return Done{};
    });
  }

  void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    run<CallerState>(std::move(done), [this, id] {
      Statement(db_, "INSERT OR IGNORE INTO blocked_callers (id, blocked_on) VALUES (?1, ?2)")
          .bind(1, id)
          .bind(2, iso8601_now())
          .step();
      return snapshot(id);
    });
  }

  void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    run<bool>(std::move(done), [this, id] {
      Transaction tx(*this);
      Statement(db_, "DELETE FROM blocked_callers WHERE id = ?1").bind(1, id).step();
      const bool was_blocked = sqlite3_changes(db_) > 0;
      Statement(db_, "DELETE FROM auth_attempts WHERE id = ?1").bind(1, id).step();
      tx.commit();
      return was_blocked;
    });
  }

  void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) override {
    run<std::vector<CallerState>>(std::move(done), [this] {
      std::vector<CallerState> out;
      Statement q(db_, "SELECT id FROM blocked_callers ORDER BY blocked_on, id");
      while (q.step()) out.push_back(snapshot(q.text(0)));
      return out;
    });
  }

 private:
  class Transaction {
   public:
    explicit Transaction(SqliteStore& store) : store_(store) { store_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!committed_) sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      store_.exec("COMMIT");
      committed_ = true;
    }

   private:
    SqliteStore& store_;
    bool committed_ = false;
  };

  CallerState snapshot(const std::string& id) {
    CallerState state{id, 0, false, {}};
    Statement attempts(db_, "SELECT attempts FROM auth_attempts WHERE id = ?1 AND expires_ms > ?2");
    if (attempts.bind(1, id).bind(2, now_ms()).step()) state.attempts = static_cast<int>(attempts.integer(0));
    Statement blocked(db_, "SELECT blocked_on FROM blocked_callers WHERE id = ?1");
    if (blocked.bind(1, id).step()) {
      state.blocked = true;
      state.blocked_on = blocked.text(0);
    }
    return state;
  }

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string why = error ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error("sqlite: " + why);
    }
  }

  // Queues `operation` for the worker; its result (or its error) goes to `done` there.
  template <class T, class Operation>
  void run(std::function<void(StoreResult<T>)> done, Operation operation) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back([this, done = std::move(done), operation = std::move(operation)]() mutable {
        std::optional<StoreResult<T>> result;
        try {
          result.emplace(operation());
        } catch (const std::exception& e) {
          result.emplace(Error{std::string(e.what()) + " (" + describe() + ")"});
        }
        done(std::move(*result));  // once, outside the try: a callback's own failure is not the store's
      });
    }
    wake_.notify_one();
  }

  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, and everything queued has run
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<StateStore> make_sqlite_store(const std::string& path) { return std::make_unique<SqliteStore>(path); }

}  // namespace callproxy::proxy
