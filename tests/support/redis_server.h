// A real redis-server (Debian's package) on a free loopback port, for store tests; stopped on
// destruction. Its data lives only in memory. Optionally with a password, ACL users and a TLS
// port beside the plain one; command() talks to it over the plain port as a fixture would.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace callproxy::test {

struct RedisServerOptions {
  std::string password;                // requirepass: the default user's password
  std::vector<std::string> acl_users;  // ACL rules, e.g. "alice on >pw ~* &* +@all"
  std::string tls_cert, tls_key;       // both set: also a TLS port (tls_port())
};

// A reply as the fixture reads it.
struct RedisValue {
  enum class Kind { string, integer, array, nil, status, error } kind = Kind::nil;
  std::string text;
  long long integer = 0;
  std::vector<RedisValue> elements;
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {});  // throws when redis-server cannot start
  ~RedisServer();
  unsigned short port() const { return port_; }
  unsigned short tls_port() const { return tls_port_; }
  std::string url(int db = 0) const { return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db); }
  void stop();    // kill it (SIGKILL: as a crash)
  void start();   // again, on the same port
  void pause();   // SIGSTOP: up, but answering nothing (a hung host, a partition)
  void resume();  // SIGCONT

  // One command, exact bytes in and out, in database `db`, authenticated with the password.
  RedisValue command(const std::vector<std::string>& args, int db = 0) const;

 private:
  RedisServerOptions options_;
  unsigned short port_ = 0;
  unsigned short tls_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace callproxy::test
