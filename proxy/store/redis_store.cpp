// The Redis store, for several serve instances sharing callers and executions. One connection on
// its own thread and event loop; commands are pipelined, their replies matched in order. RESP is
// formatted and parsed by hiredis's formatter and reader over our own Asio socket. While Redis is
// away, operations fail at once (routes answer 503; the media path only logs) and the connection
// comes back by itself.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <thread>

#include "net/asio_names.h"
#include "net/backoff.h"
#include "net/loop_thread.h"
#include "proxy/store/state_store.h"

namespace callproxy::proxy {
namespace {

// A reply, copied out of hiredis's object.
struct Reply {
  enum class Kind { string, integer, array, nil, status, error } kind = Kind::nil;
  std::string text;
  long long integer = 0;
  std::vector<Reply> elements;

  static Reply from(const redisReply* r) {
    Reply out;
    switch (r->type) {
      case REDIS_REPLY_STRING:
        out.kind = Kind::string;
        out.text.assign(r->str, r->len);
        break;
      case REDIS_REPLY_STATUS:
        out.kind = Kind::status;
        out.text.assign(r->str, r->len);
        break;
      case REDIS_REPLY_ERROR:
        out.kind = Kind::error;
        out.text.assign(r->str, r->len);
        break;
      case REDIS_REPLY_INTEGER:
        out.kind = Kind::integer;
        out.integer = r->integer;
        break;
      case REDIS_REPLY_ARRAY:
        out.kind = Kind::array;
        for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(from(r->element[i]));
        break;
      default: break;
    }
    return out;
  }
};

using ReplyHandler = std::function<void(StoreResult<Reply>)>;

// Lua scripts: each a single atomic step in Redis, whatever other instances do meanwhile.
// KEYS[1] attempts key, KEYS[2] the blocked hash; ARGV: caller id, ...
constexpr const char* snapshot_script = R"(
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local on = redis.call('HGET', KEYS[2], ARGV[1])
return {n, on or ''})";
constexpr const char* failure_script = R"(
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local on = redis.call('HGET', KEYS[2], ARGV[1])
if n > tonumber(ARGV[3]) and not on then
  on = ARGV[4]
  redis.call('HSET', KEYS[2], ARGV[1], on)
end
return {n, on or ''})";
constexpr const char* block_script = R"(
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
return {n, redis.call('HGET', KEYS[2], ARGV[1])})";
constexpr const char* unblock_script = R"(
local removed = redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return removed)";

class RedisStore final : public StateStore {
 public:
  explicit RedisStore(StoreSpec::Redis spec) : spec_(std::move(spec)), socket_(loop_), retry_(loop_) {
    reader_ = redisReaderCreate();
    asio::post(loop_, [this] { do_connect(); });
  }

  ~RedisStore() override {
    try {
      asio::post(loop_, [this] {
        stopping_ = true;
        error_code ignored;
        retry_.cancel();
        watchdog_.cancel();
        resolver_.cancel();
        socket_.close(ignored);
        fail_pending("store closed");
      });
      thread_.finish();
    } catch (const std::exception& e) {
      // Out of memory or threads at shutdown: the loop thread's own destructor stops it.
      spdlog::error("state store: Redis store did not close cleanly: {}", e.what());
    }
    redisReaderFree(reader_);
  }

  std::string describe() const override {
    return "redis://" + spec_.host + ":" + std::to_string(spec_.port) + "/" + std::to_string(spec_.db);
  }

  void mark_connected(const std::string& id, std::chrono::milliseconds ttl,
                      std::function<void(StoreResult<Done>)> done) override {
    command({"SET", key("execution:", id), "1", "PX", std::to_string(ttl.count())}, as_done(std::move(done)));
  }
  void clear_connected(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    command({"DEL", key("execution:", id)}, as_done(std::move(done)));
  }
  void is_connected(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    command({"EXISTS", key("execution:", id)}, [done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      done(r.value().integer > 0);
    });
  }

  void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    command({"EVAL", snapshot_script, "2", key("attempts:", id), key("blocked", ""), id},
            as_caller(id, std::move(done)));
  }
  void record_failure(const std::string& id, const AttemptPolicy& policy,
                      std::function<void(StoreResult<CallerState>)> done) override {
    command({"EVAL", failure_script, "2", key("attempts:", id), key("blocked", ""), id,
             std::to_string(policy.ttl.count()), std::to_string(policy.allowed), iso8601_now()},
            as_caller(id, std::move(done)));
  }
  void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    command({"DEL", key("attempts:", id)}, as_done(std::move(done)));
  }
  void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    command({"EVAL", block_script, "2", key("attempts:", id), key("blocked", ""), id, iso8601_now()},
            as_caller(id, std::move(done)));
  }
  void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    command({"EVAL", unblock_script, "2", key("attempts:", id), key("blocked", ""), id},
            [done = std::move(done)](StoreResult<Reply> r) {
              if (!r) return done(Error{r.error()});
              done(r.value().integer > 0);
            });
  }
  void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) override {
    command({"HGETALL", key("blocked", "")}, [done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      std::vector<CallerState> out;
      const auto& e = r.value().elements;
      for (std::size_t i = 0; i + 1 < e.size(); i += 2) out.push_back(CallerState{e[i].text, 0, true, e[i + 1].text});
      std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.blocked_on < b.blocked_on; });
      done(std::move(out));
    });
  }

 private:
  static std::string key(const char* kind, const std::string& id) { return std::string("callproxy:") + kind + id; }

  static ReplyHandler as_done(std::function<void(StoreResult<Done>)> done) {
    return [done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      done(Done{});
    };
  }

  static ReplyHandler as_caller(std::string id, std::function<void(StoreResult<CallerState>)> done) {
    return [id = std::move(id), done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      const auto& e = r.value().elements;
      if (e.size() != 2) return done(Error{"unexpected reply from Redis"});
      CallerState state{id, static_cast<int>(e[0].integer), !e[1].text.empty(), e[1].text};
      done(state);
    };
  }

  // ---- the connection -----------------------------------------------------------------
  void command(std::vector<std::string> args, ReplyHandler done) {
    asio::post(loop_,
               [this, args = std::move(args), done = std::move(done)]() mutable { enqueue(args, std::move(done)); });
  }

  // On the store's loop. While a connection attempt is under way commands wait for it; while
  // Redis is known to be away they fail at once.
  void enqueue(const std::vector<std::string>& args, ReplyHandler done, bool first = false) {
    {
      if (!connected_ && !connecting_) return done(Error{"Redis at " + describe() + " is not reachable"});
      if (pending_.size() >= max_pending) return done(Error{"Redis at " + describe() + " is too far behind"});
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      char* formatted = nullptr;
      const int n = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lengths.data());
      if (n < 0) return done(Error{"cannot format a Redis command"});
      if (first) {
        outgoing_.emplace_front(formatted, static_cast<std::size_t>(n));
        pending_.push_front(std::move(done));
      } else {
        outgoing_.emplace_back(formatted, static_cast<std::size_t>(n));
        pending_.push_back(std::move(done));
      }
      redisFreeCommand(formatted);
      sent_at_.push_back(std::chrono::steady_clock::now());
      if (first) std::rotate(sent_at_.rbegin(), sent_at_.rbegin() + 1, sent_at_.rend());
      arm_watchdog();
      do_write();
    }
  }

  // A Redis that stops answering (no reset: a paused host, a partition) is treated as gone once
  // the oldest command has waited too long; a connection attempt gets the same deadline.
  void arm_watchdog() {
    if (watchdog_armed_) return;
    watchdog_armed_ = true;
    watchdog_.expires_after(std::chrono::milliseconds(500));
    watchdog_.async_wait([this](error_code ec) {
      watchdog_armed_ = false;
      if (ec || stopping_) return;
      const auto now = std::chrono::steady_clock::now();
      if (connecting_ && now - connect_started_ > command_timeout) {
        error_code ignored;
        resolver_.cancel();
        socket_.close(ignored);  // the connect handler reports it
        return;
      }
      if (!sent_at_.empty() && now - sent_at_.front() > command_timeout) return on_lost("no answer in time");
      if (!sent_at_.empty() || connecting_) arm_watchdog();
    });
  }

  void do_connect() {
    if (stopping_) return;
    connecting_ = true;
    connect_started_ = std::chrono::steady_clock::now();
    arm_watchdog();
    resolver_.async_resolve(
        spec_.host, std::to_string(spec_.port), [this](error_code ec, tcp::resolver::results_type results) {
          if (stopping_) return;
          if (ec) return schedule_reconnect("cannot resolve " + spec_.host + ": " + ec.message());
          asio::async_connect(socket_, results, [this](error_code ec, const tcp::endpoint&) {
            if (stopping_) return;
            if (ec)
              return schedule_reconnect(ec == asio::error::operation_aborted ? "connect timed out"
                                                                             : "cannot connect: " + ec.message());
            ++generation_;
            connecting_ = false;
            connected_ = true;
            redisReaderFree(reader_);
            reader_ = redisReaderCreate();
            if (had_connection_) spdlog::info("state store: Redis at {} is back", describe());
            had_connection_ = true;
            backoff_.reset();
            if (spec_.db != 0) {
              // Queued first: every later command runs in the chosen database.
              enqueue(
                  {"SELECT", std::to_string(spec_.db)},
                  [this](StoreResult<Reply> r) {
                    if (!r || r.value().kind == Reply::Kind::error)
                      spdlog::error("state store: SELECT {} failed", spec_.db);
                  },
                  /*first=*/true);
            }
            do_read();
            do_write();  // what waited for the connection
          });
        });
  }

  void schedule_reconnect(const std::string& why) {
    connecting_ = false;
    outgoing_.clear();
    sent_at_.clear();
    fail_pending("Redis at " + describe() + " is not reachable: " + why);
    if (stopping_) return;
    if (backoff_.attempts() == 0) spdlog::warn("state store: Redis at {}: {}; retrying", describe(), why);
    retry_.expires_after(backoff_.next());
    retry_.async_wait([this](error_code ec) {
      if (!ec) do_connect();
    });
  }

  void on_lost(const std::string& why) {
    if (!connected_) return;
    connected_ = false;
    ++generation_;  // completions of the lost connection are ignored from here on
    error_code ignored;
    socket_.close(ignored);
    schedule_reconnect(why);
  }

  void fail_pending(const std::string& why) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& done : pending) done(Error{why});
  }

  void do_write() {
    if (writing_ || outgoing_.empty() || !connected_) return;
    writing_ = true;
    asio::async_write(socket_, asio::buffer(outgoing_.front()),
                      [this, generation = generation_](error_code ec, std::size_t) {
                        writing_ = false;
                        if (generation != generation_)
                          return do_write();  // a lost connection's write: its queue is gone
                        if (ec) return on_lost(ec.message());
                        outgoing_.pop_front();
                        do_write();
                      });
  }

  void do_read() {
    socket_.async_read_some(asio::buffer(read_buffer_), [this, generation = generation_](error_code ec, std::size_t n) {
      if (generation != generation_) return;
      if (ec) return on_lost(ec == asio::error::eof ? "connection closed" : ec.message());
      redisReaderFeed(reader_, read_buffer_.data(), n);
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) return on_lost("unreadable reply");
        if (!raw) break;
        auto* reply = static_cast<redisReply*>(raw);
        auto copy = Reply::from(reply);
        freeReplyObject(reply);
        if (pending_.empty()) return on_lost("a reply nobody asked for");
        auto done = std::move(pending_.front());
        pending_.pop_front();
        if (!sent_at_.empty()) sent_at_.pop_front();
        if (copy.kind == Reply::Kind::error) done(Error{"Redis: " + copy.text});
        else done(std::move(copy));
      }
      do_read();
    });
  }

  StoreSpec::Redis spec_;
  net::LoopThread thread_;  // the store's own loop: Redis round trips never touch a call's loop
  asio::io_context& loop_ = thread_.loop();
  tcp::resolver resolver_{loop_};
  tcp::socket socket_;
  asio::steady_timer retry_;
  asio::steady_timer watchdog_{loop_};
  static constexpr std::size_t max_pending = 10000;
  static constexpr std::chrono::milliseconds command_timeout{2000};
  std::deque<std::chrono::steady_clock::time_point> sent_at_;  // per pending command
  std::chrono::steady_clock::time_point connect_started_{};
  std::uint64_t generation_ = 0;
  bool watchdog_armed_ = false;
  redisReader* reader_ = nullptr;
  std::array<char, 16384> read_buffer_{};
  std::deque<std::string> outgoing_;
  std::deque<ReplyHandler> pending_;
  bool connected_ = false;
  bool connecting_ = true;  // the first attempt starts with the store
  bool had_connection_ = false;
  bool writing_ = false;
  bool stopping_ = false;
  net::Backoff backoff_;
};

}  // namespace

std::unique_ptr<StateStore> make_redis_store(const StoreSpec::Redis& spec) {
  return std::make_unique<RedisStore>(spec);
}

}  // namespace callproxy::proxy
