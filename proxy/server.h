// The `serve` process: the listener, its event loops, the HTTP routes, the /media endpoint and
// the drain on SIGTERM/SIGINT. Beast stays inside the networking sources.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "proxy/metrics.h"
#include "proxy/router.h"
#include "proxy/serve_options.h"
#include "proxy/state_store.h"

namespace callproxy::proxy {

// State the routes report on (readiness) and the drain changes.
struct ServeState {
  std::atomic<bool> draining{false};
};

// GET / -> 200 "OK" (the Node service's health check), /healthz, /readyz (503 while draining),
// /metrics (Prometheus text), /executions/:id/connected (200 while streaming, else 410).
void add_status_routes(Router& router, const ServeState& state, const Metrics& metrics, StateStore& store);

class Server {
 public:
  explicit Server(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Router& router();
  ServeState& state();
  Metrics& metrics();

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
