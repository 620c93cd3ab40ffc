// The Redis store, for several serve instances sharing callers and executions. One connection on
// its own thread and event loop; commands are pipelined, their replies matched in order. RESP is
// formatted and parsed by hiredis's formatter and reader over our own Asio socket (TLS for
// rediss://). While Redis is away, operations fail at once (routes answer 503; the media path
// only logs) and the connection comes back by itself.
//
// Keys and values are the Node twilio-call-proxy's by default (RedisKeys::node), so old and new
// instances can share one Redis during a swap; every update is still one Lua script, atomic
// across instances.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <deque>
#include <optional>
#include <thread>

#include "core/json_text.h"
#include "net/asio_names.h"
#include "net/backoff.h"
#include "net/client_connect.h"
#include "net/loop_thread.h"
#include "net/tls_context.h"
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
// callproxy keys: KEYS[1] the attempts key, KEYS[2] the blocked hash; ARGV: caller id, ...
// Each returns {attempts, blocked-on or ''}.
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

// Node keys: KEYS[1] auth-attempts-<id> (decimal text), KEYS[2] blocked-callers-<id> (JSON).
// Each returns {attempts, the blocked record or false}; the record is parsed here, not in Lua.
// A failure: the count written back as text with the TTL restarted (SET ... EX, as the Node
// service does), and the record {"id","blockedOn"} written once the count exceeds the allowance.
constexpr const char* node_failure_script = R"(
local n = (tonumber(redis.call('GET', KEYS[1]) or '0') or 0) + 1
redis.call('SET', KEYS[1], string.format('%d', n), 'EX', ARGV[1])
local record = redis.call('GET', KEYS[2])
if n > tonumber(ARGV[2]) and not record then
  record = ARGV[3]
  redis.call('SET', KEYS[2], record)
end
return {n, record})";
constexpr const char* node_block_script = R"(
redis.call('SET', KEYS[2], ARGV[1], 'NX')
return {tonumber(redis.call('GET', KEYS[1]) or '0') or 0, redis.call('GET', KEYS[2])})";
constexpr const char* node_unblock_script = R"(
local removed = redis.call('DEL', KEYS[2])
redis.call('DEL', KEYS[1])
return removed)";
// KEYS over the keyspace, as the Node service lists blocked callers; a key of another type that
// happens to match is skipped.
constexpr const char* node_list_script = R"(
local out = {}
for _, key in ipairs(redis.call('KEYS', ARGV[1])) do
  local value = redis.pcall('GET', key)
  if type(value) == 'string' then
    out[#out + 1] = key
    out[#out + 1] = value
  end
end
return out)";

// Execution marks with their owner (the stream that claimed the mark; StateStore says why).
// callproxy keys: KEYS[1] callproxy:execution:<id> holds the owner. ARGV: owner, TTL in ms, '1'
// for a claim. A claim, or a refresh by the owner or of a mark without one, sets the owner; a
// refresh by another stream only extends the mark.
constexpr const char* mark_script = R"(
local owner = redis.call('GET', KEYS[1])
if ARGV[3] == '1' or not owner or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1)";
// Compare and delete: only the owner clears the mark.
constexpr const char* clear_script = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0)";
// Node keys: KEYS[1] executions-<id>, whose value must stay the execution id (the Node service's
// format), and KEYS[2] callproxy:execution-owner:<id> beside it, with the same TTL, holding the
// owner. ARGV: the execution id, owner, TTL in ms, '1' for a claim.
constexpr const char* node_mark_script = R"(
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
local owner = redis.call('GET', KEYS[2])
if ARGV[4] == '1' or not owner or owner == ARGV[2] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1)";
// A mark without an owner key was written by a Node instance (or an older callproxy): it is
// theirs to clear, or to let expire.
constexpr const char* node_clear_script = R"(
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0)";

// A take: read and removed in one step (GETDEL is Redis 6.2's; this works on any Redis with Lua).
constexpr const char* take_script = R"(
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v)";
// A counter that expires ARGV[1] ms after its first increment (PEXPIRE NX is Redis 7's).
constexpr const char* increment_script = R"(
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n)";

constexpr std::string_view node_blocked_prefix = "blocked-callers-";
constexpr std::string_view node_attempts_prefix = "auth-attempts-";
constexpr std::string_view node_execution_prefix = "executions-";

// The record the Node service keeps for a blocked caller, byte for byte as its JSON.stringify
// writes it: {"id":"<id>","blockedOn":"<ISO-8601>"}.
std::string node_blocked_record(const std::string& id, const std::string& blocked_on) {
  return R"({"id":)" + dump_json(nlohmann::json(id)) + R"(,"blockedOn":)" + dump_json(nlohmann::json(blocked_on)) + "}";
}

// A record's blockedOn; empty when the record cannot be read (the caller is blocked all the same).
std::string node_blocked_on(const std::string& record) {
  if (record.size() > 4096) return {};  // no legitimate record comes close; bounded parse depth
  const auto parsed = nlohmann::json::parse(record, nullptr, false);
  if (!parsed.is_object()) return {};
  const auto it = parsed.find("blockedOn");
  return it != parsed.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int reply_count(const std::string& text) {
  int n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() ? n : 0;
}

// One connection: plain TCP or TLS. Handlers hold it, so a connection given up on stays alive
// until its last handler has run.
struct Connection {
  Connection(asio::io_context& loop, asio::ssl::context* tls) {
    if (tls) secure.emplace(loop, *tls);
    else plain.emplace(loop);
  }
  beast::tcp_stream& lowest() { return secure ? secure->next_layer() : *plain; }
  template <class F>
  void visit(F&& f) {
    if (secure) f(*secure);
    else f(*plain);
  }
  void close() {
    error_code ignored;
    lowest().socket().close(ignored);
  }
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
};

class RedisStore final : public StateStore {
 public:
  RedisStore(StoreSpec::Redis spec, const StoreLimits& limits)
      : spec_(std::move(spec)), max_pending_(limits.max_queued), retry_(loop_) {
    if (spec_.tls) tls_ = net::make_client_tls_context(spec_.ca_file);
    reader_ = redisReaderCreate();
    asio::post(loop_, [this] { do_connect(); });
  }

  ~RedisStore() override {
    try {
      asio::post(loop_, [this] {
        stopping_ = true;
        retry_.cancel();
        watchdog_.cancel();
        if (connection_) connection_->close();
        fail_pending("store closed");
      });
      thread_.finish();
    } catch (const std::exception& e) {
      // Out of memory or threads at shutdown: the loop thread's own destructor stops it.
      spdlog::error("state store: Redis store did not close cleanly: {}", e.what());
    }
    redisReaderFree(reader_);
  }

  // Never the password; the user is named, it helps find a refused AUTH.
  std::string describe() const override {
    std::string host = spec_.host.find(':') != std::string::npos ? "[" + spec_.host + "]" : spec_.host;
    return std::string(spec_.tls ? "rediss://" : "redis://") + (spec_.user.empty() ? "" : spec_.user + "@") + host +
           ":" + std::to_string(spec_.port) + "/" + std::to_string(spec_.db) +
           (node_keys() ? " (the Node service's keys)" : " (callproxy keys)");
  }

  void mark_connected(const std::string& id, const std::string& owner, MarkUpdate update, std::chrono::milliseconds ttl,
                      std::function<void(StoreResult<Done>)> done) override {
    const std::string claim = update == MarkUpdate::claim ? "1" : "0";
    if (node_keys()) {
      // As the Node service: the id as the value (its EX 5 and our PX 5000 leave the same key).
      return command({"EVAL", node_mark_script, "2", node_key(node_execution_prefix, id), key("execution-owner:", id),
                      id, owner, std::to_string(ttl.count()), claim},
                     as_done(std::move(done)));
    }
    command({"EVAL", mark_script, "1", key("execution:", id), owner, std::to_string(ttl.count()), claim},
            as_done(std::move(done)));
  }
  void clear_connected(const std::string& id, const std::string& owner,
                       std::function<void(StoreResult<Done>)> done) override {
    if (node_keys()) {
      return command(
          {"EVAL", node_clear_script, "2", node_key(node_execution_prefix, id), key("execution-owner:", id), owner},
          as_done(std::move(done)));
    }
    command({"EVAL", clear_script, "1", key("execution:", id), owner}, as_done(std::move(done)));
  }
  void is_connected(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    command({"EXISTS", execution_key(id)}, [done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      done(r.value().integer > 0);
    });
  }

  // SET NX: of every instance that tries, the one whose SET lands first claims the token; the
  // key expires with the claim. The same key under either key set: the Node service has no tokens.
  void claim_stream_token(const std::string& token_id, std::chrono::milliseconds ttl,
                          std::function<void(StoreResult<bool>)> done) override {
    command({"SET", key("stream-token:", token_id), "1", "NX", "PX",
             std::to_string(std::max<std::int64_t>(ttl.count(), 1))},
            [done = std::move(done)](StoreResult<Reply> r) {
              if (!r) return done(Error{r.error()});
              done(r.value().kind == Reply::Kind::status);  // +OK when set, nil when the key was there
            });
  }

  void caller(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    if (node_keys()) {
      // Two plain keys: one MGET reads both at one instant.
      return command({"MGET", node_key(node_attempts_prefix, id), node_key(node_blocked_prefix, id)},
                     as_node_caller(id, std::move(done)));
    }
    command({"EVAL", snapshot_script, "2", key("attempts:", id), key("blocked", ""), id},
            as_caller(id, std::move(done)));
  }
  void record_failure(const std::string& id, const AttemptPolicy& policy,
                      std::function<void(StoreResult<CallerState>)> done) override {
    if (node_keys()) {
      return command(
          {"EVAL", node_failure_script, "2", node_key(node_attempts_prefix, id), node_key(node_blocked_prefix, id),
           std::to_string(policy.ttl.count()), std::to_string(policy.allowed), node_blocked_record(id, iso8601_now())},
          as_node_caller(id, std::move(done)));
    }
    command({"EVAL", failure_script, "2", key("attempts:", id), key("blocked", ""), id,
             std::to_string(policy.ttl.count()), std::to_string(policy.allowed), iso8601_now()},
            as_caller(id, std::move(done)));
  }
  void clear_attempts(const std::string& id, std::function<void(StoreResult<Done>)> done) override {
    command({"DEL", node_keys() ? node_key(node_attempts_prefix, id) : key("attempts:", id)}, as_done(std::move(done)));
  }
  void block(const std::string& id, std::function<void(StoreResult<CallerState>)> done) override {
    if (node_keys()) {
      return command({"EVAL", node_block_script, "2", node_key(node_attempts_prefix, id),
                      node_key(node_blocked_prefix, id), node_blocked_record(id, iso8601_now())},
                     as_node_caller(id, std::move(done)));
    }
    command({"EVAL", block_script, "2", key("attempts:", id), key("blocked", ""), id, iso8601_now()},
            as_caller(id, std::move(done)));
  }
  void unblock(const std::string& id, std::function<void(StoreResult<bool>)> done) override {
    auto answer = [done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      done(r.value().integer > 0);
    };
    if (node_keys()) {
      return command(
          {"EVAL", node_unblock_script, "2", node_key(node_attempts_prefix, id), node_key(node_blocked_prefix, id)},
          std::move(answer));
    }
    command({"EVAL", unblock_script, "2", key("attempts:", id), key("blocked", ""), id}, std::move(answer));
  }
  // Always callproxy's own keys, Node keys or not: the Node service had no such values.
  void put_value(const std::string& key_name, const std::string& value, std::chrono::milliseconds ttl,
                 std::function<void(StoreResult<Done>)> done) override {
    command({"SET", key("value:", key_name), value, "PX", std::to_string(std::max<std::int64_t>(ttl.count(), 1))},
            as_done(std::move(done)));
  }
  void get_value(const std::string& key_name, bool remove,
                 std::function<void(StoreResult<std::optional<std::string>>)> done) override {
    auto answer = [done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      if (r.value().kind == Reply::Kind::nil) return done(std::optional<std::string>());
      if (r.value().kind != Reply::Kind::string) return done(Error{"unexpected reply from Redis"});
      done(std::optional<std::string>(std::move(r.value().text)));
    };
    if (remove) return command({"EVAL", take_script, "1", key("value:", key_name)}, std::move(answer));
    command({"GET", key("value:", key_name)}, std::move(answer));
  }
  void increment(const std::string& key_name, std::chrono::milliseconds ttl,
                 std::function<void(StoreResult<long long>)> done) override {
    command({"EVAL", increment_script, "1", key("value:", key_name),
             std::to_string(std::max<std::int64_t>(ttl.count(), 1))},
            [done = std::move(done)](StoreResult<Reply> r) {
              if (!r) return done(Error{r.error()});
              if (r.value().kind != Reply::Kind::integer) return done(Error{"unexpected reply from Redis"});
              done(r.value().integer);
            });
  }
  void count_records(std::function<void(StoreResult<RecordCounts>)> done) override {
    asio::post(loop_, [done = std::move(done)] {
      done(Error{"Redis does not count its records: its keys expire by themselves"});
    });
  }
  void blocked_callers(std::function<void(StoreResult<std::vector<CallerState>>)> done) override {
    const bool node = node_keys();
    auto answer = [node, done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      std::vector<CallerState> out;
      const auto& e = r.value().elements;
      for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
        if (node) {
          const auto id = e[i].text.substr(std::min(e[i].text.size(), node_blocked_prefix.size()));
          out.push_back(CallerState{id, 0, true, node_blocked_on(e[i + 1].text)});
        } else {
          out.push_back(CallerState{e[i].text, 0, true, e[i + 1].text});
        }
      }
      std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.blocked_on < b.blocked_on; });
      done(std::move(out));
    };
    if (node) {
      return command({"EVAL", node_list_script, "0", std::string(node_blocked_prefix) + "*"}, std::move(answer));
    }
    command({"HGETALL", key("blocked", "")}, std::move(answer));
  }

 private:
  bool node_keys() const { return spec_.keys == RedisKeys::node; }
  static std::string key(const char* kind, const std::string& id) { return std::string("callproxy:") + kind + id; }
  static std::string node_key(std::string_view prefix, const std::string& id) { return std::string(prefix) + id; }
  std::string execution_key(const std::string& id) const {
    return node_keys() ? node_key(node_execution_prefix, id) : key("execution:", id);
  }

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

  // {attempts (an integer, or the key's text, or nil), the blocked record or nil}.
  static ReplyHandler as_node_caller(std::string id, std::function<void(StoreResult<CallerState>)> done) {
    return [id = std::move(id), done = std::move(done)](StoreResult<Reply> r) {
      if (!r) return done(Error{r.error()});
      const auto& e = r.value().elements;
      if (e.size() != 2) return done(Error{"unexpected reply from Redis"});
      CallerState state{id, 0, false, {}};
      state.attempts = e[0].kind == Reply::Kind::integer ? static_cast<int>(e[0].integer) : reply_count(e[0].text);
      state.blocked = e[1].kind == Reply::Kind::string;
      if (state.blocked) state.blocked_on = node_blocked_on(e[1].text);
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
    if (!connected_ && !connecting_) return done(Error{"Redis at " + describe() + " is not reachable"});
    if (pending_.size() >= max_pending_) {
      return done(Error{"Redis at " + describe() + " is busy: " + std::to_string(max_pending_) +
                        " commands already wait (--store-max-queue)"});
    }
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
        if (connection_) connection_->close();  // the connect handler reports it
        return;
      }
      if (!sent_at_.empty() && now - sent_at_.front() > command_timeout) return on_lost("no answer in time");
      if (!sent_at_.empty() || connecting_) arm_watchdog();
    });
  }

  // Resolve, connect and (rediss://) the TLS handshake with the server's name checked; then AUTH
  // and SELECT go ahead of whatever waited for the connection.
  void do_connect() {
    if (stopping_) return;
    connecting_ = true;
    connect_started_ = std::chrono::steady_clock::now();
    arm_watchdog();
    connection_ = std::make_shared<Connection>(loop_, tls_.get());
    net::Endpoint endpoint;
    endpoint.tls = spec_.tls;
    endpoint.host = spec_.host;
    endpoint.port = spec_.port;
    connection_->visit([&](auto& stream) {
      net::async_connect_client(stream, endpoint, command_timeout, {},
                                [this, connection = connection_](std::optional<net::ConnectFailure> failure) {
                                  if (stopping_) return;
                                  if (failure) return schedule_reconnect(failure->message);
                                  connection->lowest().expires_never();
                                  on_connected();
                                });
    });
  }

  void on_connected() {
    ++generation_;
    redisReaderFree(reader_);
    reader_ = redisReaderCreate();
    // Queued at the front, AUTH before SELECT, while nothing is written yet (connected_ is still
    // false): every later command runs authenticated, in the chosen database. The connection
    // counts as back once they have been answered.
    const bool select = spec_.db != 0;
    const bool auth = !spec_.password.empty();
    if (select) {
      enqueue(
          {"SELECT", std::to_string(spec_.db)},
          [this](StoreResult<Reply> r) {
            if (!r) return on_lost("SELECT " + std::to_string(spec_.db) + " failed: " + r.error());
            on_ready();
          },
          /*first=*/true);
    }
    if (auth) {
      std::vector<std::string> args{"AUTH"};
      if (!spec_.user.empty()) args.push_back(spec_.user);
      args.push_back(spec_.password);
      enqueue(
          args,
          [this, select](StoreResult<Reply> r) {
            if (!r) return on_lost("AUTH refused: " + r.error());
            if (!select) on_ready();
          },
          /*first=*/true);
    }
    connecting_ = false;
    connected_ = true;
    if (!select && !auth) on_ready();
    do_read();
    do_write();  // what waited for the connection
  }

  void on_ready() {
    if (had_connection_) spdlog::info("state store: Redis at {} is back", describe());
    had_connection_ = true;
    backoff_.reset();
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
    if (connection_) connection_->close();
    schedule_reconnect(why);
  }

  // A callback's own failure (a bug where it was written) must not cut the read loop short, which
  // would leave every later reply unread.
  static void answer(const ReplyHandler& done, StoreResult<Reply> reply) {
    try {
      done(std::move(reply));
    } catch (const std::exception& e) {
      spdlog::error("state store: a Redis callback failed: {}", e.what());
    }
  }

  void fail_pending(const std::string& why) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& done : pending) answer(done, Error{why});
  }

  void do_write() {
    if (writing_ || outgoing_.empty() || !connected_) return;
    writing_ = true;
    connection_->visit([&](auto& stream) {
      asio::async_write(stream, asio::buffer(outgoing_.front()),
                        [this, connection = connection_, generation = generation_](error_code ec, std::size_t) {
                          writing_ = false;
                          if (generation != generation_)
                            return do_write();  // a lost connection's write: its queue is gone
                          if (ec) return on_lost(ec.message());
                          outgoing_.pop_front();
                          do_write();
                        });
    });
  }

  void do_read() {
    connection_->visit([&](auto& stream) {
      stream.async_read_some(asio::buffer(read_buffer_),
                             [this, connection = connection_, generation = generation_](error_code ec, std::size_t n) {
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
                                 if (copy.kind == Reply::Kind::error) answer(done, Error{"Redis: " + copy.text});
                                 else answer(done, std::move(copy));
                                 if (generation != generation_)
                                   return;  // that answer gave the connection up (AUTH refused)
                               }
                               do_read();
                             });
    });
  }

  StoreSpec::Redis spec_;
  std::size_t max_pending_;                  // commands awaiting replies (StoreLimits::max_queued)
  std::shared_ptr<asio::ssl::context> tls_;  // rediss://
  net::LoopThread thread_;                   // the store's own loop: Redis round trips never touch a call's loop
  asio::io_context& loop_ = thread_.loop();
  std::shared_ptr<Connection> connection_;
  asio::steady_timer retry_;
  asio::steady_timer watchdog_{loop_};
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

std::unique_ptr<StateStore> make_redis_store(const StoreSpec::Redis& spec, const StoreLimits& limits) {
  return std::make_unique<RedisStore>(spec, limits);
}

}  // namespace callproxy::proxy
