// The SQLite store: one connection owned by one worker thread, operations queued to it, each in
// its own transaction. WAL journal and synchronous=NORMAL: a committed block survives kill -9
// (and, with WAL, a power loss costs at most the last transactions, never consistency).
//
// Every operation is bounded: the queue holds at most StoreLimits::max_queued operations (one
// more is answered "busy" at once), and an operation waits at most operation_timeout in all, in
// the queue and for a file another process has locked, before it is answered with an error. So a
// locked or slow file costs callers a prompt 503, never a pile of waiting requests.
//
// Executions' "connected" marks are not written to the file: they live in this process's memory
// (ExecutionMarks), answered at once by a thread that never waits for the file. A mark is a few
// seconds of state that only matters while this process's call lives: on the file it waited
// behind PIN checks when the file was locked (Studio then saw 410 for a live call), and a
// restart must not bring back marks of calls that died with the process. Instances that share
// marks (behind one load balancer) share them through Redis, as docs/configuration.md says.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/regular_file.h"
#include "proxy/store/execution_marks.h"
#include "proxy/store/state_store.h"
#include "proxy/store/store_thread.h"

namespace callproxy::proxy {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Creates the file readable and writable by its owner alone when it does not exist yet: SQLite
// gives its WAL and shared-memory files the database file's mode. An existing file keeps the
// mode its operator gave it (a warning says when others may read it).
void create_private(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::fchmod(fd, 0600);  // whatever the umask took away, nothing more is given
    ::close(fd);
    return;
  }
  struct stat st {};
  if (errno == EEXIST && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    spdlog::warn("state store: sqlite:{} may be read by other users (mode {:o}): chmod 600 it", path,
                 st.st_mode & 0777);
  }
  // Any other failure is reported by sqlite3_open_v2, which names it.
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
  SqliteStore(std::string path, const StoreLimits& limits)
      : path_(std::move(path)), limits_(limits), marks_(limits.prune_interval) {
    // SQLite would take /dev/zero for an empty database (and, as root, create /dev/zero-journal
    // beside it) and fail a FIFO with a bare "disk I/O error": a setting naming either is refused.
    if (const auto why = not_regular_file(path_); !why.empty()) {
      throw std::invalid_argument("--store sqlite:" + path_ + ": " + why);
    }
    // RETURNING (the call values' atomic take and count) is SQLite 3.35's.
    if (sqlite3_libversion_number() < 3035000) {
      throw std::runtime_error("--store sqlite:" + path_ + ": SQLite " + sqlite3_libversion() +
                               " is too old: 3.35 or later is needed");
    }
    create_private(path_);
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("--store sqlite:" + path_ + ": cannot open: " + why);
    }
    // Another process holding the file waits at most until the operation's deadline.
    sqlite3_busy_handler(db_, &SqliteStore::on_busy, this);
    deadline_ = Clock::now() + limits_.operation_timeout;
    try {
      if (sqlite3_db_readonly(db_, "main") == 1) {
        // Calls go on (their marks are in memory) and so do reads; every write answers an error.
        spdlog::error("state store: sqlite:{} is read-only: blocks and failed PIN attempts cannot be recorded, "
                      "and the routes that record them answer 503 until it is writable and serve restarts",
                      path_);
      } else {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
        exec("CREATE TABLE IF NOT EXISTS blocked_callers (id TEXT PRIMARY KEY, blocked_on TEXT NOT NULL)");
        exec("CREATE TABLE IF NOT EXISTS auth_attempts (id TEXT PRIMARY KEY, attempts INTEGER NOT NULL, "
             "expires_ms INTEGER NOT NULL)");
        exec("CREATE INDEX IF NOT EXISTS auth_attempts_expiry ON auth_attempts (expires_ms)");
        // Used stream tokens, each until its claim expires: in the file, so that a restart within
        // a token's life does not make it usable again, and processes sharing the file share them.
        exec("CREATE TABLE IF NOT EXISTS stream_tokens (id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL)");
        exec("CREATE INDEX IF NOT EXISTS stream_tokens_expiry ON stream_tokens (expires_ms)");
        // A call's values (its bot's decision, how it was streamed, its reconnects): in the file,
        // so that another process on it, or this one restarted, can act on the call.
        exec("CREATE TABLE IF NOT EXISTS call_values (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
             "expires_ms INTEGER NOT NULL)");
        exec("CREATE INDEX IF NOT EXISTS call_values_expiry ON call_values (expires_ms)");
      }
    } catch (const std::exception& e) {
      sqlite3_close(db_);
      throw std::runtime_error("--store sqlite:" + path_ + ": " + e.what());
    }
    worker_ = std::make_unique<StoreThread>("SQLite store", limits_.max_queued);
  }

  ~SqliteStore() override {
    // What is queued runs (each within its deadline) before the file closes. The worker stays an
    // object meanwhile: an answer that asks the store again (a reconnect's count after its plan)
    // is refused, not sent to a thread that is gone.
    worker_->finish();
    // Answers given on the completion thread (marks, refusals) may ask the file again: that too
    // runs (refused by the finished worker, answered here) before anything goes.
    completions_.finish();
    sqlite3_close(db_);
  }

  std::string describe() const override { return "sqlite:" + path_; }

  void mark_connected(const std::string& id, const std::string& owner, MarkUpdate update, milliseconds ttl,
                      std::function<void(StoreResult<Done>)> done) override {
    marks_.mark(id, owner, update, ttl);
    completions_.post([done = std::move(done)] { done(Done{}); });
  }

  void clear_connected(const std::string& id, const std::string& owner,
                       std::function<void(StoreResult<Done>)> done) override {
    marks_.clear(id, owner);
    completions_.post([done = std::move(done)] { done(Done{}); });
  }

  void is_connected(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    completions_.post([done = std::move(done), connected = marks_.is_connected(id)] { done(connected); });
  }

  void claim_stream_token(const std::string& token_id, milliseconds ttl,
                          std::function<void(StoreResult<bool>)> done) override {
    run<bool>(std::move(done), [this, token_id, ttl] {
      const auto now = now_ms();
      // One statement, so one step for every connection to the file: a new id is inserted; a
      // known one is taken over only when its claim has expired. A row changed is a claim won.
      Statement(db_, "INSERT INTO stream_tokens (id, expires_ms) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET "
                     "expires_ms = excluded.expires_ms WHERE stream_tokens.expires_ms <= ?3")
          .bind(1, token_id)
          .bind(2, now + ttl.count())
          .bind(3, now)
          .step();
      const bool claimed = sqlite3_changes(db_) > 0;
      prune_if_due();
      return claimed;
    });
  }

  void put_value(const std::string& key, const std::string& value, milliseconds ttl,
                 std::function<void(StoreResult<Done>)> done) override {
    run<Done>(std::move(done), [this, key, value, ttl] {
      Statement(db_, "INSERT OR REPLACE INTO call_values (key, value, expires_ms) VALUES (?1, ?2, ?3)")
          .bind(1, key)
          .bind(2, value)
          .bind(3, now_ms() + ttl.count())
          .step();
      prune_if_due();
      return Done{};
    });
  }

  void get_value(const std::string& key, bool remove,
                 std::function<void(StoreResult<std::optional<std::string>>)> done) override {
    run<std::optional<std::string>>(std::move(done), [this, key, remove]() -> std::optional<std::string> {
      // One statement either way, so a take is atomic for every connection to the file.
      Statement q(db_, remove ? "DELETE FROM call_values WHERE key = ?1 RETURNING value, expires_ms"
                              : "SELECT value, expires_ms FROM call_values WHERE key = ?1");
      if (!q.bind(1, key).step()) return std::nullopt;
      std::optional<std::string> value;
      if (q.integer(1) > now_ms()) value = q.text(0);
      while (q.step()) {
      }
      return value;
    });
  }

  void increment(const std::string& key, milliseconds ttl, std::function<void(StoreResult<long long>)> done) override {
    run<long long>(std::move(done), [this, key, ttl] {
      const auto now = now_ms();
      // An expired counter starts again at one, with a new expiry; a live one keeps its own.
      Statement q(db_,
                  "INSERT INTO call_values (key, value, expires_ms) VALUES (?1, '1', ?2) ON CONFLICT(key) DO UPDATE "
                  "SET value = CASE WHEN expires_ms <= ?3 THEN '1' ELSE CAST(CAST(value AS INTEGER) + 1 AS TEXT) END, "
                  "expires_ms = CASE WHEN expires_ms <= ?3 THEN excluded.expires_ms ELSE expires_ms END "
                  "RETURNING CAST(value AS INTEGER)");
      q.bind(1, key).bind(2, now + ttl.count()).bind(3, now);
      if (!q.step()) throw std::runtime_error("sqlite: increment returned no row");
      const long long count = q.integer(0);
      while (q.step()) {
      }
      prune_if_due();
      return count;
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
      prune_if_due();
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

  void count_records(std::function<void(StoreResult<RecordCounts>)> done) override {
    run<RecordCounts>(std::move(done), [this] {
      Statement attempts(db_, "SELECT COUNT(*) FROM auth_attempts");
      attempts.step();
      Statement tokens(db_, "SELECT COUNT(*) FROM stream_tokens");
      tokens.step();
      Statement values(db_, "SELECT COUNT(*) FROM call_values");
      values.step();
      return RecordCounts{static_cast<std::size_t>(attempts.integer(0)), marks_.size(),
                          static_cast<std::size_t>(tokens.integer(0)), static_cast<std::size_t>(values.integer(0))};
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

  // On the worker, after a write: callers whose attempts expired and tokens whose claims expired
  // are deleted (by the expiry indexes), so that rotating caller IDs and every call's new token
  // cannot grow the file without bound. Its failure is not the operation's: the next one tries
  // again.
  void prune_if_due() {
    const auto now = Clock::now();
    if (now - last_prune_ < limits_.prune_interval) return;
    try {
      Statement(db_, "DELETE FROM auth_attempts WHERE expires_ms <= ?1").bind(1, now_ms()).step();
      Statement(db_, "DELETE FROM stream_tokens WHERE expires_ms <= ?1").bind(1, now_ms()).step();
      Statement(db_, "DELETE FROM call_values WHERE expires_ms <= ?1").bind(1, now_ms()).step();
      last_prune_ = now;
    } catch (const std::exception& e) {
      spdlog::warn("state store: cannot remove expired attempts and tokens from {}: {}", describe(), e.what());
    }
  }

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string why = error ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error("sqlite: " + why);
    }
  }

  // SQLite's busy handler: while another connection holds the file, wait in short steps until
  // the operation's deadline (0: give up, and the statement fails with SQLITE_BUSY).
  static int on_busy(void* self, int /*count*/) {
    const auto left = static_cast<SqliteStore*>(self)->deadline_ - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    std::this_thread::sleep_for(std::min<Clock::duration>(left, milliseconds(10)));
    return 1;
  }

  // Queues `operation` for the worker; its result (or its error) goes to `done` there. A full
  // queue answers "busy" at once (on the completion thread), and an operation that has waited
  // past its deadline is answered so without being run.
  template <class T, class Operation>
  void run(std::function<void(StoreResult<T>)> done, Operation operation) {
    auto shared_done = std::make_shared<std::function<void(StoreResult<T>)>>(std::move(done));
    const auto deadline = Clock::now() + limits_.operation_timeout;
    const bool queued = worker_->post([this, shared_done, deadline, operation = std::move(operation)]() mutable {
      std::optional<StoreResult<T>> result;
      if (Clock::now() >= deadline) {
        result.emplace(Error{describe() + " is busy: an operation waited over " +
                             std::to_string(limits_.operation_timeout.count()) + " ms"});
      } else {
        deadline_ = deadline;
        try {
          result.emplace(operation());
        } catch (const std::exception& e) {
          result.emplace(Error{std::string(e.what()) + " (" + describe() + ")"});
        }
      }
      (*shared_done)(std::move(*result));  // outside the try: a callback's own failure is not the store's
    });
    if (!queued) {
      completions_.post(
          [shared_done, why = describe() + " is busy: " + std::to_string(limits_.max_queued) +
                              " operations already wait (--store-max-queue)"] { (*shared_done)(Error{why}); });
    }
  }

  std::string path_;
  StoreLimits limits_;
  sqlite3* db_ = nullptr;
  Clock::time_point deadline_{};  // the running operation's (worker thread only)
  Clock::time_point last_prune_{};
  ExecutionMarks marks_;
  StoreThread completions_{"SQLite store answers"};  // marks, and answers that need no file
  std::unique_ptr<StoreThread> worker_;              // the file's operations, bounded
};

}  // namespace

std::unique_ptr<StateStore> make_sqlite_store(const std::string& path, const StoreLimits& limits) {
  return std::make_unique<SqliteStore>(path, limits);
}

}  // namespace callproxy::proxy
