// serve running on a thread of the test process (not the binary): for tests that reach inside it
// (allocation counts, fault injection). Bound to 127.0.0.1 and a free port.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "proxy/server.h"

namespace callproxy::test {

class InProcessServe {
 public:
  // `on_thread` runs first on serve's thread (to name it, say).
  explicit InProcessServe(proxy::ServeOptions options, std::function<void()> on_thread = {}) {
    options.http.bind = "127.0.0.1";
    options.http.port = 0;
    server_ = std::make_unique<proxy::Server>(std::move(options));
    port_ = server_->listen();
    thread_ = std::thread([this, on_thread = std::move(on_thread)] {
      if (on_thread) on_thread();
      server_->run();
    });
  }
  ~InProcessServe() {
    server_->stop();
    thread_.join();
  }
  InProcessServe(const InProcessServe&) = delete;
  InProcessServe& operator=(const InProcessServe&) = delete;
  unsigned short port() const { return port_; }

 private:
  std::unique_ptr<proxy::Server> server_;
  unsigned short port_ = 0;
  std::thread thread_;
};

}  // namespace callproxy::test
