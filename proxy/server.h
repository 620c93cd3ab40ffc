// The `serve` process: the listener, its event loops, the HTTP routes and the drain on
// SIGTERM/SIGINT. Beast stays inside server.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "proxy/router.h"
#include "proxy/serve_options.h"

namespace callproxy::proxy {

// State the routes report on (readiness) and the drain changes.
struct ServeState {
  std::atomic<bool> draining{false};
};

// Health routes as the Node service has them, plus Kubernetes-style probes:
// GET / -> 200 "OK", GET /healthz -> 200, GET /readyz -> 200 or 503 while draining.
void add_health_routes(Router& router, const ServeState& state);

class Server {
 public:
  explicit Server(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Router& router();
  ServeState& state();

  // Binds and listens; throws std::runtime_error naming the address when it cannot.
  // Returns the port actually bound (useful with port 0).
  std::uint16_t listen();

  // Serves until a drain ends (SIGTERM/SIGINT, or stop()). Returns when every loop is done.
  void run();

  // Starts the drain from any thread: new work is refused and the process winds down.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace callproxy::proxy
