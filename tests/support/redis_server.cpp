#include "support/redis_server.h"

#include <csignal>
#include <stdexcept>
#include <thread>

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace callproxy::test {

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)), port_(free_port()) {
  if (!options_.tls_cert.empty()) tls_port_ = free_port();
  start();
}

RedisServer::~RedisServer() { stop(); }

void RedisServer::start() {
  std::vector<std::string> args{
      "/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",  "--save", "",
      "--appendonly",          "no",     "--daemonize",         "no",     "--loglevel", "warning"};
  if (!options_.password.empty()) args.insert(args.end(), {"--requirepass", options_.password});
  for (const auto& rule : options_.acl_users) {
    // A config line on the command line: "--user" then the rule's words as arguments.
    args.emplace_back("--user");
    std::size_t start = 0;
    while (start < rule.size()) {
      const auto end = std::min(rule.find(' ', start), rule.size());
      args.push_back(rule.substr(start, end - start));
      start = end + 1;
    }
  }
  if (tls_port_ != 0) {
    args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file", options_.tls_cert,
                             "--tls-key-file", options_.tls_key, "--tls-auth-clients", "no"});
  }
  process_ = std::make_unique<ChildProcess>(args);
  // Ready when it accepts connections.
  for (int i = 0; i < 100; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (up) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + ": " + process_->err());
}

namespace {

RedisValue copy(const redisReply* r) {
  RedisValue out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.kind = RedisValue::Kind::string; break;
    case REDIS_REPLY_STATUS: out.kind = RedisValue::Kind::status; break;
    case REDIS_REPLY_ERROR: out.kind = RedisValue::Kind::error; break;
    case REDIS_REPLY_INTEGER: out.kind = RedisValue::Kind::integer; break;
    case REDIS_REPLY_ARRAY: out.kind = RedisValue::Kind::array; break;
    default: break;
  }
  if (r->str) out.text.assign(r->str, r->len);
  out.integer = r->integer;
  for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy(r->element[i]));
  return out;
}

}  // namespace

RedisValue RedisServer::command(const std::vector<std::string>& args, int db) const {
  const timeval timeout{5, 0};
  redisContext* context = redisConnectWithTimeout("127.0.0.1", port_, timeout);
  if (!context || context->err) {
    const std::string why = context ? context->errstr : "out of memory";
    if (context) redisFree(context);
    throw std::runtime_error("cannot reach the test redis-server: " + why);
  }
  redisSetTimeout(context, timeout);
  const auto run = [&](const std::vector<std::string>& command) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : command) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (!reply) throw std::runtime_error(std::string("test redis-server: ") + context->errstr);
    auto value = copy(reply);
    freeReplyObject(reply);
    return value;
  };
  RedisValue result;
  try {
    if (!options_.password.empty()) run({"AUTH", options_.password});
    if (db != 0) run({"SELECT", std::to_string(db)});
    result = run(args);
  } catch (...) {
    redisFree(context);
    throw;
  }
  redisFree(context);
  return result;
}

void RedisServer::pause() { process_->signal(SIGSTOP); }
void RedisServer::resume() { process_->signal(SIGCONT); }

void RedisServer::stop() {
  if (!process_) return;
  process_->signal(SIGCONT);
  process_->signal(SIGKILL);
  process_->wait();
  process_.reset();
}

}  // namespace callproxy::test
