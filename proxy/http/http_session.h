// One HTTP connection of serve, plain or TLS: requests go to the router; a /media upgrade that
// passes the gate becomes a call. For the networking sources only (it takes an Asio socket).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <memory>

#include "net/loop_stream.h"
#include "proxy/http/connection_limits.h"
#include "proxy/http/http_options.h"
#include "proxy/http/media_gate.h"
#include "proxy/http/router.h"
#include "proxy/metrics/metrics.h"

namespace boost::asio::ssl {
class context;
}

namespace callproxy::proxy {

struct CallContext;

// What every connection of a server shares; outlives them all.
struct HttpContext {
  const Router& router;
  const HttpOptions& options;
  const MediaGate& gate;
  CallContext& calls;
  ConnectionLimits& limits;
  Metrics& metrics;  // the shared shard: refused connections
  // Set with --tls-cert: the connection speaks TLS, with the context loaded when it is accepted
  // (serve's SIGHUP swaps in a renewed certificate; a connection keeps the one it started with).
  const std::atomic<std::shared_ptr<boost::asio::ssl::context>>* tls = nullptr;
};

// Takes a new connection within the limits: runs it on the socket's own loop, or, past the
// connection limit and its probe reserve, answers 503 at once and closes it.
void accept_http_connection(net::LoopSocket socket, const HttpContext& context);

}  // namespace callproxy::proxy
