// A real redis-server (Debian's package) on a free loopback port, for store tests; stopped on
// destruction. Its data lives only in memory.
#pragma once

#include <memory>
#include <string>

#include "support/child_process.h"

namespace callproxy::test {

class RedisServer {
 public:
  RedisServer();  // throws when redis-server cannot start
  ~RedisServer();
  unsigned short port() const { return port_; }
  std::string url(int db = 0) const { return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db); }
  void stop();    // kill it (SIGKILL: as a crash)
  void start();   // again, on the same port
  void pause();   // SIGSTOP: up, but answering nothing (a hung host, a partition)
  void resume();  // SIGCONT

 private:
  unsigned short port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace callproxy::test
